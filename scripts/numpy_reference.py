"""An independent NumPy forward pass for the decoder-only architectures Swiftlet runs (llama,
qwen2, qwen3, phi3, gemma3), following llama.cpp's graphs (`src/models/*.cpp` / `llama-model.cpp`).

Used by `scripts/make-architecture-fixtures` (tiny synthetic models and their logits) and
`scripts/check-numpy-reference` (this code against reference logits of real models). It shares
no code with Swiftlet: weights come from `gguf.GGUFReader` and `gguf.quants.dequantize`.

Conventions: a weight matrix is a NumPy array of shape (out_rows, in_columns) as gguf-py reads and
writes it (GGUF dims reversed), so a projection is y = W @ x. Activations are float64.

What each architecture does (llama.cpp semantics):
- llama:  pre-norm; SwiGLU; adjacent-pair ("normal") RoPE on (x[2i], x[2i+1]); optional
          `rope_freqs.weight` (Llama 3) divides θᵢ; output = `output.weight` or tied embedding.
- qwen2:  llama + Q/K/V biases; NEOX RoPE on (x[i], x[i + ropeDim/2]).
- qwen3:  llama without biases + per-head RMSNorm of Q and K before RoPE; NEOX RoPE; head
          dimension from `key_length` (heads·headDim may differ from hidden).
- phi3:   fused QKV (rows Q, K, V) and fused FFN up (rows 0..ffn-1 gate, ffn..2ffn-1 up;
          silu(gate) * up as ggml_swiglu); NEOX RoPE.
- gemma3: embedding × √hidden; per-head Q/K RMSNorm before RoPE; NEOX RoPE; every 6th layer
          ((il+1) % 6 == 0) global with the file's RoPE base, the others a sliding window
          (key j visible from query p iff p - j < window) with RoPE base 10000; RMSNorm after the
          attention output and after the FFN, before each residual add; GeGLU with the tanh GELU.
"""
import math
import numpy as np

ROPE_NORM, ROPE_NEOX = "norm", "neox"

# llama.cpp: rope type per architecture (llama_model_rope_type).
ROPE_STYLE = {"llama": ROPE_NORM, "qwen2": ROPE_NEOX, "qwen3": ROPE_NEOX, "phi3": ROPE_NEOX, "gemma3": ROPE_NEOX}
# llama.cpp's gemma3 constants (hparams.set_swa_pattern(6), rope_freq_base_train_swa = 10000).
GEMMA3_SWA_PATTERN = 6
GEMMA3_SWA_ROPE_BASE = 10000.0


def rms_norm(x, w, eps):
    """x / sqrt(mean(x²) + eps) * w over the last axis."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def rope(x, positions, rope_dim, base, style, freq_factors=None, freq_scale=1.0):
    """Rotates the first `rope_dim` dimensions of every head of x (T, heads, headDim).

    θᵢ = base^(-2i/ropeDim) / freq_factors[i] (ggml_rope_ext, ext_factor 0); the angle at position
    p is p · freq_scale · θᵢ. `norm` rotates (x[2i], x[2i+1]); `neox` rotates (x[i], x[i+ropeDim/2]).
    """
    half = rope_dim // 2
    i = np.arange(half, dtype=np.float64)
    theta = base ** (-2.0 * i / rope_dim)
    if freq_factors is not None:
        theta = theta / np.asarray(freq_factors, dtype=np.float64)
    ang = np.asarray(positions, dtype=np.float64)[:, None] * freq_scale * theta[None, :]  # (T, half)
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    out = np.array(x, dtype=np.float64, copy=True)
    if style == ROPE_NORM:
        x0, x1 = x[..., 0:rope_dim:2], x[..., 1:rope_dim:2]
        out[..., 0:rope_dim:2] = x0 * cos - x1 * sin
        out[..., 1:rope_dim:2] = x0 * sin + x1 * cos
    elif style == ROPE_NEOX:
        x0, x1 = x[..., :half], x[..., half:rope_dim]
        out[..., :half] = x0 * cos - x1 * sin
        out[..., half:rope_dim] = x0 * sin + x1 * cos
    else:
        raise ValueError(style)
    return out


def attention(q, k, v, scale, window=None):
    """Causal softmax attention. q (T, H, D), k (T, KH, D), v (T, KH, Dv) -> (T, H·Dv).
    Query head h reads KV head h // (H / KH). With a window, key j is visible from query p iff
    p - j < window (llama.cpp LLAMA_SWA_TYPE_STANDARD)."""
    T, H, _ = q.shape
    KH = k.shape[1]
    group = H // KH
    p = np.arange(T)[:, None]
    j = np.arange(T)[None, :]
    masked = j > p
    if window is not None:
        masked = masked | (p - j >= window)
    out = np.empty((T, H, v.shape[2]), dtype=np.float64)
    for h in range(H):
        kv = h // group
        s = (q[:, h, :] @ k[:, kv, :].T) * scale
        s = np.where(masked, -np.inf, s)
        s = s - s.max(axis=1, keepdims=True)
        e = np.exp(s)
        e /= e.sum(axis=1, keepdims=True)
        out[:, h, :] = e @ v[:, kv, :]
    return out.reshape(T, -1)


def project(x, w, chunk=16384):
    """x (T, in) @ w.T for a possibly large float32 w (vocab, in), in float64, in row chunks."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((x.shape[0], w.shape[0]), dtype=np.float64)
    for s in range(0, w.shape[0], chunk):
        out[:, s:s + chunk] = x @ np.asarray(w[s:s + chunk], dtype=np.float64).T
    return out


def forward(cfg, W, tokens, variant=None):
    """Logits (T, vocab) in float64: row i is the next-token distribution after tokens[0..i].

    cfg: dict from `config_from_gguf` (or built by hand); W: tensor name -> NumPy array.
    variant: optional set of deliberate deviations, used only to show that a fixture tells them
    apart (e.g. {"no_freq_factors"}, {"rope_norm"}, {"rope_neox"}, {"no_window"},
    {"swap_gate_up"}, {"qk_norm_after_rope"}, {"single_rope_base"}, {"no_embed_scale"},
    {"no_qkv_bias"}).
    """
    variant = variant or set()
    arch = cfg["arch"]
    T = len(tokens)
    H, KH = cfg["heads"], cfg["kv_heads"]
    dk, dv = cfg["head_dim_k"], cfg["head_dim_v"]
    eps = cfg["eps"]
    style = ROPE_STYLE[arch]
    if "rope_norm" in variant:
        style = ROPE_NORM
    if "rope_neox" in variant:
        style = ROPE_NEOX
    pos = np.arange(T)
    freq_factors = W.get("rope_freqs.weight")
    if "no_freq_factors" in variant:
        freq_factors = None

    emb = W["token_embd.weight"]
    x = np.asarray(emb[np.asarray(tokens)], dtype=np.float64)
    if arch == "gemma3" and "no_embed_scale" not in variant:
        x = x * np.float64(np.float32(math.sqrt(cfg["hidden"])))  # ggml_scale by sqrtf(n_embd)

    for il in range(cfg["n_layer"]):
        p = f"blk.{il}."
        h = rms_norm(x, W[p + "attn_norm.weight"], eps)
        if p + "attn_qkv.weight" in W:
            qkv = h @ W[p + "attn_qkv.weight"].T
            qd, kd = H * dk, KH * dk
            q, k, v = qkv[:, :qd], qkv[:, qd:qd + kd], qkv[:, qd + kd:qd + kd + KH * dv]
        else:
            q = h @ W[p + "attn_q.weight"].T
            k = h @ W[p + "attn_k.weight"].T
            v = h @ W[p + "attn_v.weight"].T
        if "no_qkv_bias" not in variant:
            if p + "attn_q.bias" in W:
                q = q + W[p + "attn_q.bias"]
            if p + "attn_k.bias" in W:
                k = k + W[p + "attn_k.bias"]
            if p + "attn_v.bias" in W:
                v = v + W[p + "attn_v.bias"]
        q = q.reshape(T, H, dk)
        k = k.reshape(T, KH, dk)
        v = v.reshape(T, KH, dv)

        # Sliding window and RoPE base of this layer.
        window = None
        base, fscale = cfg["rope_base"], cfg.get("rope_freq_scale", 1.0)
        if arch == "gemma3" and cfg.get("sliding_window"):
            pattern = cfg.get("swa_pattern", GEMMA3_SWA_PATTERN)
            if (il + 1) % pattern != 0:
                if "no_window" not in variant:
                    window = cfg["sliding_window"]
                if "single_rope_base" not in variant:
                    base, fscale = cfg.get("swa_rope_base", GEMMA3_SWA_ROPE_BASE), 1.0

        qn, kn = W.get(p + "attn_q_norm.weight"), W.get(p + "attn_k_norm.weight")
        late_norm = "qk_norm_after_rope" in variant
        if qn is not None and not late_norm:
            q = rms_norm(q, qn, eps)
        if kn is not None and not late_norm:
            k = rms_norm(k, kn, eps)
        q = rope(q, pos, cfg["rope_dim"], base, style, freq_factors, fscale)
        k = rope(k, pos, cfg["rope_dim"], base, style, freq_factors, fscale)
        if qn is not None and late_norm:
            q = rms_norm(q, qn, eps)
        if kn is not None and late_norm:
            k = rms_norm(k, kn, eps)

        a = attention(q, k, v, cfg.get("attn_scale", 1.0 / math.sqrt(dk)), window)
        a = a @ W[p + "attn_output.weight"].T
        if p + "attn_output.bias" in W:
            a = a + W[p + "attn_output.bias"]
        if p + "post_attention_norm.weight" in W:
            a = rms_norm(a, W[p + "post_attention_norm.weight"], eps)
        x = x + a

        h = rms_norm(x, W[p + "ffn_norm.weight"], eps)
        if p + "ffn_gate.weight" in W:
            g = h @ W[p + "ffn_gate.weight"].T
            u = h @ W[p + "ffn_up.weight"].T
        else:  # phi3: fused [gate; up] rows in ffn_up
            gu = h @ W[p + "ffn_up.weight"].T
            n = gu.shape[1] // 2
            g, u = gu[:, :n], gu[:, n:]
            if "swap_gate_up" in variant:
                g, u = u, g
        act = gelu_tanh(g) if arch == "gemma3" else silu(g)
        f = (act * u) @ W[p + "ffn_down.weight"].T
        if p + "post_ffw_norm.weight" in W:
            f = rms_norm(f, W[p + "post_ffw_norm.weight"], eps)
        x = x + f

    x = rms_norm(x, W["output_norm.weight"], eps)
    out_w = W["output.weight"] if "output.weight" in W else emb
    return project(x, out_w)


# ---------------------------------------------------------------------------------------------
# Reading GGUF files

def _field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    return f.contents()


def config_from_gguf(reader):
    """The hyperparameters the forward pass needs, with llama.cpp's defaults."""
    arch = _field(reader, "general.architecture")
    g = lambda k, d=None: _field(reader, f"{arch}.{k}", d)
    hidden = int(g("embedding_length"))
    heads = int(g("attention.head_count"))
    kv_heads = int(g("attention.head_count_kv", heads))
    dk = int(g("attention.key_length", hidden // heads))
    dv = int(g("attention.value_length", dk))
    eps = float(g("attention.layer_norm_rms_epsilon", 1e-6 if arch == "gemma3" else 1e-5))
    # RoPE scaling: llama.cpp defaults the type to "linear" and applies 1/factor when a factor is
    # present. "llama3" is not a type llama.cpp knows (it asserts); Swiftlet takes it to mean
    # "the scaling is in rope_freqs.weight", and so does this reference (no linear factor).
    stype = g("rope.scaling.type", "linear")
    factor = float(g("rope.scaling.factor", 0.0) or 0.0)
    fscale = 1.0 / factor if (stype == "linear" and factor) else 1.0
    if stype not in ("linear", "none", "llama3"):
        raise ValueError(f"unsupported rope scaling type {stype}")
    tok = next(t for t in reader.tensors if t.name == "token_embd.weight")
    cfg = {
        "arch": arch,
        "n_layer": int(g("block_count")),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": kv_heads,
        "head_dim_k": dk,
        "head_dim_v": dv,
        "ffn": int(g("feed_forward_length")),
        "vocab": int(tok.shape[1]),
        "rope_dim": int(g("rope.dimension_count", dk)),
        "rope_base": float(g("rope.freq_base", 10000.0)),
        "rope_freq_scale": fscale,
        "eps": eps,
    }
    if arch == "gemma3":
        sw = g("attention.sliding_window")
        cfg["sliding_window"] = int(sw) if sw else None
        cfg["swa_pattern"] = GEMMA3_SWA_PATTERN
        cfg["swa_rope_base"] = GEMMA3_SWA_ROPE_BASE
    return cfg


def load_gguf(path, keep_f32=("token_embd.weight", "output.weight")):
    """(reader, cfg, weights): every tensor dequantized; large embedding/output matrices stay
    float32 (projected in float64 chunks), everything else becomes float64."""
    import gguf
    from gguf.quants import dequantize
    reader = gguf.GGUFReader(path)
    cfg = config_from_gguf(reader)
    W = {}
    for t in reader.tensors:
        if t.tensor_type == gguf.GGMLQuantizationType.F32:
            a = np.array(t.data, dtype=np.float32)
        else:
            a = dequantize(t.data, t.tensor_type)
        dims = [int(d) for d in t.shape][::-1]  # GGUF dims reversed -> NumPy (rows, cols)
        a = a.reshape(dims)
        W[t.name] = a.astype(np.float32, copy=False) if t.name in keep_f32 else a.astype(np.float64)
    return reader, cfg, W
