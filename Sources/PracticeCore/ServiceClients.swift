import Foundation
import PracticeProto

/// The typed clients of every service over one transport: `connection.business.getBusinessInfo(…)`.
extension ClientTransport {
  public var accounts: AccountServiceClient<Self> { AccountServiceClient(self) }
  public var business: BusinessServiceClient<Self> { BusinessServiceClient(self) }
  public var locations: LocationServiceClient<Self> { LocationServiceClient(self) }
  public var rooms: RoomServiceClient<Self> { RoomServiceClient(self) }
  public var billing: BillingServiceClient<Self> { BillingServiceClient(self) }
  public var claims: ClaimServiceClient<Self> { ClaimServiceClient(self) }
  public var audit: AuditServiceClient<Self> { AuditServiceClient(self) }
  public var watch: WatchServiceClient<Self> { WatchServiceClient(self) }
  public var reflection: ReflectionClient<Self> { ReflectionClient(self) }
  public var health: HealthClient<Self> { HealthClient(self) }
  public var metrics: MetricsClient<Self> { MetricsClient(self) }
  public var testClock: TestClockClient<Self> { TestClockClient(self) }
  public var testControl: TestControlClient<Self> { TestControlClient(self) }
}

extension ClientTransport {
  /// A unary call with an encoded payload and default options (`practicectl call`, tests).
  public func unary(method: String, payload: Data) async throws -> Data {
    try await unary(method: method, payload: payload, options: CallOptions())
  }
}
