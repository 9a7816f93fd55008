import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import OpenAIAPI
import Synchronization
import HTTPTypes

/// Limits on connections, configurable with `serve` options.
public struct ConnectionLimits: Sendable {
    /// Open connections served at once; the next ones are answered 503 and closed.
    public var maxConnections = 1024
    /// A connection with no request in progress (idle between requests, or still sending its
    /// headers) is closed after this: slow clients cannot hold connections for ever.
    public var idleTimeout: Duration = .seconds(30)
    /// A request body must arrive within this (408 otherwise).
    public var bodyTimeout: Duration = .seconds(30)

    public init() {}

    /// File descriptors the process keeps for itself beyond connections: the model files, logs,
    /// the event loop, and connections being refused.
    public static let reservedDescriptors = 64

    /// Raises the soft open-file limit to the hard one (as nginx's `worker_rlimit_nofile` would),
    /// and returns the soft limit now in force.
    public static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur > rlim_t(Int32.max) ? Int(Int32.max) : Int(limit.rlim_cur)
    }
}

/// Open connections and refusals, shared by every connection's `ConnectionGuard`.
public final class ConnectionCounter: Sendable {
    public let limit: Int
    private let open = Atomic<Int>(0)
    private let refused = Mutex<[String: Int]>([:])

    public init(limit: Int) { self.limit = limit }

    public var openConnections: Int { open.load(ordering: .relaxed) }
    public var refusals: [String: Int] { refused.withLock { $0 } }

    /// Counts a new connection; false if it is over the limit (and then not counted as open).
    func enter() -> Bool {
        let now = open.wrappingAdd(1, ordering: .relaxed).newValue
        if now > limit {
            open.wrappingSubtract(1, ordering: .relaxed)
            refuse("max_connections")
            return false
        }
        return true
    }

    func leave() { open.wrappingSubtract(1, ordering: .relaxed) }

    func refuse(_ reason: String) { refused.withLock { $0[reason, default: 0] += 1 } }
}

/// First handler after HTTP decoding on every connection:
/// - over the connection limit: answers 503 (OpenAI's body, `Retry-After`) and closes;
/// - headers beyond the decoder's limits: 431 instead of Hummingbird's empty 400; any other
///   malformed request: 400 with OpenAI's body;
/// - a response that says `Connection: close` closes the connection once written. (Hummingbird
///   only honours the request's header; a completion watches its connection for a hang-up, which
///   reads past the request, so a pipelined request behind it would otherwise wait for ever.)
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let counter: ConnectionCounter
    private var counted = false
    private var refused = false
    private var closeAfterResponse = false

    init(counter: ConnectionCounter) { self.counter = counter }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !counted && !refused else { return }
        if counter.enter() {
            counted = true
        } else {
            refused = true
            let error = APIError(status: 503, message: "the server has \(counter.limit) open connections, its limit; retry shortly",
                                 type: "server_error", code: "too_many_connections")
            respond(context, error, extra: [.retryAfter: "1"])
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted { counter.leave(); counted = false }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if counted { counter.leave(); counted = false }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }   // the 503 is on its way; ignore the request
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError, !refused else {
            context.fireErrorCaught(error)
            return
        }
        if parse == .headerOverflow {
            counter.refuse("headers_too_large")
            respond(context, APIError(status: 431, message: "the request's headers are larger than the server accepts (too many, or too long)",
                                      type: "invalid_request_error", code: "request_header_fields_too_large"))
        } else {
            counter.refuse("malformed_http")
            respond(context, APIError(status: 400, message: "the request is not valid HTTP/1.1 (\(parse))", type: "invalid_request_error",
                                      code: "malformed_http"))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            if head.headerFields[.connection]?.lowercased() == "close" { closeAfterResponse = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            guard closeAfterResponse else { context.write(data, promise: promise); return }
            closeAfterResponse = false
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            context.writeAndFlush(data, promise: written)
            written.futureResult.whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// Writes an error response straight to the wire and closes the connection.
    private func respond(_ context: ChannelHandlerContext, _ error: APIError, extra: HTTPFields = [:]) {
        let body = error.body
        var fields: HTTPFields = [.contentType: "application/json", .connection: "close", .contentLength: "\(body.count)"]
        for field in extra { fields.append(field) }
        let head = HTTPResponse(status: .init(code: error.status), headerFields: fields)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
