import Foundation
import Hummingbird
import Logging
import OpenAIAPI

/// The outermost middleware: every request gets OpenAI's error body whatever went wrong (an
/// unknown route is 404 naming it, a known route with the wrong method 405 with `Allow`), and one
/// log line once its response is written (`RequestRecord`).
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let logger: Logger
    let metrics: ServerMetrics

    /// The methods each route answers; a path not here is unknown.
    static func allowedMethods(_ path: String) -> [HTTPRequest.Method] {
        switch path {
        case "/health", "/ready", "/metrics", "/v1/usage", "/v1/models": return [.get]
        case "/v1/completions", "/v1/chat/completions": return [.post]
        default: return path.hasPrefix("/v1/models/") && path.count > "/v1/models/".count ? [.get] : []
        }
    }

    static func isCompletion(_ path: String) -> Bool { path == "/v1/completions" || path == "/v1/chat/completions" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let record = context.record
        let path = request.uri.path
        record.begin(method: request.method.rawValue, path: path, logger: logger)
        var response: Response
        do {
            response = try await next(request, context)
        } catch let e as any HTTPResponseError where e.status == .notFound {
            let allowed = Self.allowedMethods(path)
            if allowed.isEmpty {
                response = OpenAIServer.errorResponse(APIError(status: 404, message: "Invalid URL (\(request.method.rawValue) \(path))",
                                                               type: "invalid_request_error", code: "not_found"))
            } else {
                let list = allowed.map(\.rawValue).joined(separator: ", ")
                response = OpenAIServer.errorResponse(APIError(status: 405, message: "\(path) answers \(list), not \(request.method.rawValue)",
                                                               type: "invalid_request_error", code: "method_not_allowed"))
                response.headers[.allow] = list
            }
        } catch let e as any HTTPResponseError {
            response = OpenAIServer.errorResponse(APIError(status: Int(e.status.code), message: e.status.reasonPhrase,
                                                           type: e.status.code >= 500 ? "server_error" : "invalid_request_error"))
        } catch {
            let e = APIError(status: 500, message: "\(error)", type: "server_error")
            record.failed(e)
            response = OpenAIServer.errorResponse(e)
        }
        let status = Int(response.status.code)
        if Self.isCompletion(path) && status >= 400 {
            metrics.reject(reason: record.errorCode ?? (status == 401 ? "invalid_api_key" : "http_\(status)"))
        }
        let body = response.body
        let logger = self.logger
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            do {
                try await body.write(writer)
                record.responded(status: status, logger: logger)
            } catch {
                record.responded(status: status, note: "the client went away before the response was written", logger: logger)
                throw error
            }
        }
        return response
    }
}
