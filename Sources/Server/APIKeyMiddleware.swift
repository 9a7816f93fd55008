import Hummingbird
import OpenAIAPI

/// With an API key set, every route but /health needs `Authorization: Bearer KEY` (401 otherwise,
/// with OpenAI's error body).
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        let given = request.headers[.authorization]
        guard given == "Bearer \(key)" else {
            let error = APIError(status: 401, message: given == nil ? "missing API key: send 'Authorization: Bearer KEY'" : "incorrect API key",
                                 type: "invalid_request_error", code: "invalid_api_key")
            return OpenAIServer.errorResponse(error)
        }
        return try await next(request, context)
    }
}
