import Hummingbird
import NIOCore

/// Hummingbird's per-request context, with what the request log needs: the client's address and
/// a record the routes fill in (model, choices, usage) and the log middleware completes.
public struct ServerContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    let record: RequestRecord

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        record = RequestRecord(client: source.channel.remoteAddress.map(Self.describe) ?? "-")
    }

    static func describe(_ address: SocketAddress) -> String {
        if let ip = address.ipAddress, let port = address.port { return "\(ip):\(port)" }
        return "\(address)"
    }
}
