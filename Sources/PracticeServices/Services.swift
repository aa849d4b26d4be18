import Logging
import PracticeCore
import PracticeDomain
import SwiftProtobuf
import PracticeProto
import PracticeStore

/// Builds the dispatcher that serves every implemented method over `env`.
public enum Services {
  public static func makeDispatcher(
    env: ServiceEnvironment, configuration: Dispatcher.Configuration,
    runDueWork: @escaping @Sendable () async throws -> UInt32 = { 0 },
    metricsText: @escaping @Sendable () async -> String = { "" }
  ) -> Dispatcher {
    let served = LockedState<[String]>([])
    var router = Router()
    AccountService(env: env).register(into: &router)
    WatchService(env: env).register(into: &router)
    BusinessService(env: env).register(into: &router)
    AuditService(env: env).register(into: &router)
    LocationService(env: env).register(into: &router)
    RoomService(env: env).register(into: &router)
    BillingService(env: env).register(into: &router)
    ClaimService(env: env).register(into: &router)
    SystemServices(env: env, servedMethods: { served.withLock { $0 } }, runDueWork: runDueWork, metricsText: metricsText)
      .register(into: &router)
    // The reads that nearly always finish without suspending, from the read cache or one short
    // indexed SQLite read: their calls start on the connection's thread.
    for method in [
      MethodCatalog.AccountService.getAccount, MethodCatalog.BusinessService.getBusinessInfo,
      MethodCatalog.RoomService.checkRoomAvailability, MethodCatalog.Health.check,
    ] {
      router.startOnConnectionThread(method)
    }
    let dispatcher = Dispatcher(router: router, filters: [refuseCardNumbers], configuration: configuration)
    let methods = dispatcher.servedMethods
    served.withLock { $0 = methods }
    return dispatcher
  }
}

/// No card numbers (PRODUCT.md): every free-text string field of every request is scanned before
/// the request is handled; a card number never reaches the database, the audit log or the logs
/// (the refusal names the field, never the value).
/// A card number needs 13 digits in one string: a request whose whole encoding holds fewer ASCII
/// digits is let through without the walk.
let refuseCardNumbers = RequestFilter(mayRefuse: CardNumbers.mayContain) { _, message in
  func scan<M: SwiftProtobuf.Message>(_ m: M) -> FieldViolation? {
    var found: FieldViolation?
    StringFields.forEachLazily(in: m) { path, value in
      guard found == nil, CardNumbers.mayContain(value) else { return }
      let field = path()
      if CardNumbers.isScanned(fieldPath: field), CardNumbers.contains(value) {
        found = FieldViolation(field: field, description: "looks like a card number; card numbers are never accepted")
      }
    }
    return found
  }
  if let v = scan(message) {
    throw RPCError(.invalidArgument, .cardNumberRefused, "a card number is not accepted in \(v.field)", violations: [v])
  }
}
