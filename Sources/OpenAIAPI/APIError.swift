import Foundation

/// An error as OpenAI's API returns it: an HTTP status and the body
/// `{"error":{"message":…,"type":…,"param":…,"code":…}}` (`param` and `code` may be null).
public struct APIError: Error, Equatable, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    /// 400: the request is malformed or a parameter is out of range.
    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func bodyTooLarge(bytes: Int, limit: Int) -> APIError {
        APIError(status: 413, message: "the request body has \(bytes) bytes, more than the limit of \(limit)",
                 type: "invalid_request_error", code: "request_too_large")
    }

    public static func modelNotFound(_ model: String) -> APIError {
        APIError(status: 404, message: "the model '\(model)' does not exist", type: "invalid_request_error",
                 param: "model", code: "model_not_found")
    }

    public var description: String { "\(status) \(type)\(param.map { " (\($0))" } ?? ""): \(message)" }

    /// The JSON body, keys sorted, null for a missing `param` or `code`.
    public var body: Data {
        let error: [String: Any] = ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()]
        return (try? JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys])) ?? Data()
    }
}
