"""`swiftlet serve --draft` on the real binary, driven by the official openai client: greedy
answers equal the same server's without a draft (the default model drafting for itself, and
prompt lookup), the usage says how many predicted tokens were accepted and rejected, /metrics
counts the same, and concurrent clients streaming and not all get complete answers."""
import concurrent.futures

import openai

from harness import MODEL, NAME, Server, run_tests

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "List three colours: red, green,",
]
CHATS = ["What is the capital of Japan?", "Write a haiku about the sea."]


def answers(client):
    """Greedy completions and chats, one request at a time (the plain server's batch of one is
    the reference), with their usage."""
    out = []
    for p in PROMPTS:
        r = client.completions.create(model=NAME, prompt=p, max_tokens=40, temperature=0)
        out.append((r.choices[0].text, r.usage))
    for c in CHATS:
        r = client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": c}], max_tokens=40, temperature=0)
        out.append((r.choices[0].message.content, r.usage))
    return out


def check_against_plain(*draft_args):
    with Server() as plain:
        expected = [text for text, _ in answers(openai.OpenAI(base_url=plain.url + "/v1", api_key="none"))]
    with Server(*draft_args) as s:
        client = openai.OpenAI(base_url=s.url + "/v1", api_key="none")
        got = answers(client)
        assert [text for text, _ in got] == expected, [(a, b) for (a, _), b in zip(got, expected) if a != b]
        accepted = rejected = 0
        for _, usage in got:
            details = usage.completion_tokens_details
            if details is not None:
                accepted += details.accepted_prediction_tokens or 0
                rejected += details.rejected_prediction_tokens or 0
                assert (details.accepted_prediction_tokens or 0) < usage.completion_tokens
        assert accepted > 0, (accepted, rejected)
        m = s.metrics()
        assert m["swiftlet_spec_decode_num_accepted_tokens_total"] == accepted, (m, accepted)
        assert m["swiftlet_spec_decode_num_draft_tokens_total"] == accepted + rejected

        # Six clients at once, half streaming: every answer is whole.
        def one(i):
            messages = [{"role": "user", "content": f"Tell me fact number {i} about rivers."}]
            if i % 2:
                stream = client.chat.completions.create(model=NAME, messages=messages, max_tokens=24, temperature=0, stream=True)
                return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            return client.chat.completions.create(model=NAME, messages=messages, max_tokens=24, temperature=0).choices[0].message.content
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            texts = list(pool.map(one, range(6)))
        assert all(texts), texts
        return accepted, rejected


def test_draft_model():
    """The default model as its own draft, up to 4 tokens per check."""
    accepted, rejected = check_against_plain("--draft", MODEL, "--draft-tokens", "4", "--fixed-draft")
    print(f"    draft model: {accepted} accepted, {rejected} rejected")


def test_prompt_lookup():
    accepted, rejected = check_against_plain("--prompt-lookup", "--draft-tokens", "4", "--fixed-draft")
    print(f"    prompt lookup: {accepted} accepted, {rejected} rejected")


def test_refusals():
    """A draft for a model that is not served, and several models without --draft-for: the
    server refuses to start, saying why."""
    for args, needle in [(["--draft", MODEL, "--draft-for", "nope"], "--draft-for 'nope' is not a served model"),
                         (["--draft", MODEL, "--model", f"other={MODEL}"], "--draft-for NAME")]:
        try:
            with Server(*args):
                raise AssertionError(f"started with {args}")
        except RuntimeError as e:
            assert needle in str(e), str(e)


if __name__ == "__main__":
    run_tests([test_draft_model, test_prompt_lookup, test_refusals])
