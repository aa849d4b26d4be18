import Logging
import PracticeProto
import PracticeRPC
import PracticeStore
import PracticeWire
import Synchronization

/// Builds the dispatcher that serves every implemented method over `env`.
public enum Services {
  public static func makeDispatcher(
    env: ServiceEnvironment, configuration: Dispatcher.Configuration,
    runDueWork: @escaping @Sendable () async throws -> UInt32 = { 0 }
  ) -> Dispatcher {
    let served = Mutex<[String]>([])
    var router = Router()
    AccountService(env: env).register(into: &router)
    WatchService(env: env).register(into: &router)
    BusinessService(env: env).register(into: &router)
    AuditService(env: env).register(into: &router)
    LocationService(env: env).register(into: &router)
    RoomService(env: env).register(into: &router)
    SystemServices(env: env, servedMethods: { served.withLock { $0 } }, runDueWork: runDueWork)
      .register(into: &router)
    let dispatcher = Dispatcher(router: router, filters: [], configuration: configuration)
    let methods = dispatcher.servedMethods
    served.withLock { $0 = methods }
    return dispatcher
  }
}
