import CognitoAuthCore
import Hummingbird
import HummingbirdCore
import Logging

/// The relay's application, built from its settings and a store, so tests run it with a memory
/// store and Hummingbird's router test client (no sockets), and `main` with either store.
public func buildRelayApplication<Store: RelayStore>(
    settings: RelaySettings, store: Store, logger: Logger
) -> Application<RouterResponder<RelayRequestContext>> {
    let router = Router(context: RelayRequestContext.self)
    RelayController(settings: settings, store: store).register(on: router)
    // Headers capped well below NIO's 80 KiB default: nothing the relay reads is long. A request
    // must arrive whole within 10 s of the connection or the previous answer (slow clients).
    let http1 = HTTP1Channel.Configuration(
        additionalChannelHandlers: [RequestDeadlineHandler(seconds: RelaySettings.requestSeconds, logger: logger)],
        idleTimeout: .seconds(30),
        httpDecoderConfiguration: .init(maxHeaderFieldSize: 8192, maxHeaderListSize: 16384, maxHeaderFieldCount: 64))
    var app = Application(
        router: router,
        server: .http1(configuration: http1),
        configuration: .init(address: .hostname(settings.config.listenHost, port: settings.config.listenPort), serverName: nil),
        logger: logger)
    app.beforeServerStarts { try await store.prepare() }
    return app
}
