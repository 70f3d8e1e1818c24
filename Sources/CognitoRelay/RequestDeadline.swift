import Logging
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose next request has not arrived whole, head and body, within `seconds`
/// of the connection opening or of the relay's previous answer on it. Hummingbird's idle timeout
/// alone counts every body part as activity, so a client that sends a form one byte at a time
/// (slowloris) could hold a connection and its task for hours; with this it holds one for
/// `seconds` at most. The clock stops while a complete request is being answered.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let seconds: Int64
    let logger: Logger
    private var timer: Scheduled<Void>?
    /// A request head was read and its end has not come yet.
    private var midRequest = false
    /// Complete requests whose answers are not finished.
    private var answering = 0
    /// Answers finished before their request's end was read (a 413 for a body announced too
    /// large: Hummingbird drains that body before it reads the next request).
    private var answeredEarly = 0

    init(seconds: Int64, logger: Logger) {
        self.seconds = seconds
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: midRequest = true
        case .body: break
        case .end:
            midRequest = false
            if answeredEarly > 0 { answeredEarly -= 1 } else { answering += 1 }
            // Answered already: the clock runs on for the next request.
            if answering > 0 { disarm() } else { arm(context) }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            if answering > 0 { answering -= 1 } else { answeredEarly += 1 }
            if answering == 0 { arm(context) }
        }
        context.write(data, promise: promise)
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    private func arm(_ context: ChannelHandlerContext) {
        disarm()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(seconds)) {
            self.timer = nil
            if self.midRequest {
                // A head without its body in time; an idle keep-alive connection closes silently.
                let peer = context.channel.remoteAddress?.ipAddress ?? "unknown"
                self.logger.notice("relay: closed a connection: request body not complete within \(self.seconds) s addr=\(peer)")
            }
            context.close(promise: nil)
        }
    }
}
