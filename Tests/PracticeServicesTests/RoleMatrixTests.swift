import Foundation
import Logging
import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeRPC
import PracticeServices
import PracticeStore
import PracticeWire
import Foundation
import SwiftProtobuf
import Testing

/// PRODUCT.md's role table, written out again here on purpose: the code's table
/// (PracticeDomain.AccessPolicy) is checked against it, not against itself.
enum ProductMatrix {
  static let admin: Set<Practice_V1_Role> = [.owner, .administrator]
  static let everyone: Set<Practice_V1_Role> = [.owner, .administrator, .practitioner, .supervisor, .scheduler, .biller]

  static let allowed: [String: Set<Practice_V1_Role>] = {
    var m: [String: Set<Practice_V1_Role>] = [:]
    for name in ["AccountService/GetAccount", "AccountService/ListUsers", "BusinessService/GetBusinessInfo",
                 "BusinessService/ResolveSenderEmail", "LocationService/GetLocation", "LocationService/ListLocations",
                 "LocationService/ListPlaceOfServiceCodes", "LocationService/ListPayerPosRules",
                 "LocationService/ResolvePlaceOfService", "RoomService/GetRoom", "RoomService/ListRooms",
                 "RoomService/ListRoomBookings", "RoomService/CheckRoomAvailability", "WatchService/Watch"] {
      m[name] = everyone
    }
    for name in ["AccountService/UpdateAccountSettings", "BusinessService/UpdateBusinessInfo",
                 "LocationService/CreateLocation", "LocationService/UpdateLocation", "LocationService/ArchiveLocation",
                 "LocationService/UnarchiveLocation", "RoomService/UnarchiveRoom", "AccountService/ReactivateUser",
                 "RoomService/CreateRoom", "RoomService/UpdateRoom", "RoomService/ArchiveRoom",
                 "LocationService/SetPayerPosRule", "LocationService/DeletePayerPosRule", "AccountService/AddUser",
                 "AccountService/UpdateUser", "AccountService/DeactivateUser", "BillingService/ChangePlan",
                 "BillingService/SetPaymentMethod", "BillingService/RemovePaymentMethod",
                 "BillingService/SetArchiveSubscription", "AuditService/ListAuditEvents"] {
      m[name] = admin
    }
    for name in ["RoomService/BookRoom", "RoomService/MoveRoomBooking", "RoomService/CancelRoomBooking"] {
      m[name] = admin.union([.practitioner, .scheduler])
    }
    for name in ["BillingService/GetSubscription", "BillingService/PreviewInvoice", "BillingService/ListInvoices",
                 "BillingService/GetInvoice", "BillingService/GetTaxFormInfo", "ClaimService/ResolveClaimProfile"] {
      m[name] = admin.union([.biller])
    }
    for name in ["AccountService/CloseAccount", "AccountService/ReopenAccount", "AccountService/ExportAccount",
                 "AccountService/TransferOwnership"] {
      m[name] = [.owner]
    }
    for name in ["AccountService/CreateAccount", "AccountService/ListAccounts", "BillingService/ReportUsage",
                 "BillingService/RecordPayment", "BillingService/VoidInvoice"] {
      m[name] = []
    }
    return Dictionary(uniqueKeysWithValues: m.map { ("/practice.v1." + $0.key, $0.value) })
  }()
}

@Suite("Role matrix")
struct RoleMatrixTests {
  @Test("PRODUCT.md's table covers every practice.v1 method")
  func coverage() {
    let declared = Set(MethodCatalog.all.map(\.path).filter { $0.hasPrefix("/practice.v1.") })
    #expect(Set(ProductMatrix.allowed.keys) == declared)
  }

  @Test("every role x every method: allowed and denied, operators always, denied peers never")
  func walk() async throws {
    let store = try SQLiteStore(inMemory: ())
    let account = "acct_matrix"
    try await store.write { w in
      var a = Practice_V1_Account()
      a.accountID = account
      a.state = .active
      a.version = 1
      try w.insertAccount(a)
      for role in ProductMatrix.everyone {
        var u = Practice_V1_User()
        u.accountID = account
        u.userID = "user_\(role.rawValue)"
        u.roles = [role]
        u.active = true
        u.version = 1
        try w.insertUser(u)
      }
    }
    let logger = Logger(label: "matrix")
    var checked = 0
    for (path, allowedRoles) in ProductMatrix.allowed.sorted(by: { $0.key < $1.key }) {
      let method = try #require(MethodCatalog.method(path))
      for role in ProductMatrix.everyone.sorted(by: { $0.rawValue < $1.rawValue }) {
        let ctx = CallContext(
          method: method, callID: 1, peer: Peer(credentials: .init(pid: 1, uid: 1000, gid: 1000), peerClass: .service),
          metadata: [MetadataKey.actor: "user_\(role.rawValue)"], logger: logger)
        let outcome: RPCError? = try await store.read { r in
          do {
            _ = try Authorization.authorize(ctx, accountID: account, reader: r)
            return nil
          } catch let e as RPCError { return e }
        }
        if allowedRoles.contains(role) {
          #expect(outcome == nil, "\(path) should allow \(role)")
        } else {
          #expect(outcome?.code == .permissionDenied && outcome?.reason == .roleRequired, "\(path) should deny \(role)")
        }
        checked += 1
      }
      for (peerClass, expected) in [(PeerClass.operator, nil as Reason?), (.denied, .peerNotAllowed)] {
        let ctx = CallContext(
          method: method, callID: 1, peer: Peer(credentials: .init(pid: 1, uid: 1000, gid: 1000), peerClass: peerClass),
          metadata: [:], logger: logger)
        let outcome: RPCError? = try await store.read { r in
          do {
            _ = try Authorization.authorize(ctx, accountID: account, reader: r)
            return nil
          } catch let e as RPCError { return e }
        }
        #expect(outcome?.reason == expected, "\(path) for \(peerClass)")
      }
    }
    #expect(checked == ProductMatrix.allowed.count * 6)
  }
}

@Suite("Room conflict query")
struct ConflictPlanTests {
  @Test("EXPLAIN QUERY PLAN shows a bounded range search on the bookings' (room, start) key, its window from the room's row, no sort")
  func plan() async throws {
    let store = try SQLiteStore(inMemory: ())
    let plan = try await store.conflictQueryPlan()
    #expect(plan.contains("SEARCH room_bookings USING PRIMARY KEY (room_id=? AND start_ms>? AND start_ms<?)"), "\(plan)")
    #expect(plan.contains("SEARCH rooms USING PRIMARY KEY (account_id=? AND id=?)"), "\(plan)")
    #expect(!plan.contains("SCAN") && !plan.contains("TEMP B-TREE"), "\(plan)")
  }
}

@Suite("Store durability settings")
struct DurabilityTests {
  @Test("every connection the store opens runs WAL with synchronous=FULL; a foreign file is refused")
  func pragmas() async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString.prefix(6))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let store = try SQLiteStore(path: dir.appendingPathComponent("practiced.db").path)
    // Reads and writes use different connections of the pool: check both.
    #expect(try await store.pragma("PRAGMA journal_mode") == "wal")
    #expect(try await store.pragma("PRAGMA synchronous") == "2")
    let writerSync = try await store.write { w in try w.probeWrite(); return "ok" }
    #expect(writerSync == "ok")
    #expect(try await store.writerPragma("PRAGMA synchronous") == "2")
    #expect(try await store.writerPragma("PRAGMA journal_mode") == "wal")
    try await store.close()
    let foreign = dir.appendingPathComponent("foreign.db").path
    try Data("not a database at all, definitely not".utf8).write(to: URL(fileURLWithPath: foreign))
    #expect(throws: StoreOpenError.self) { _ = try SQLiteStore(path: foreign) }
  }
}

@Suite("Access policy and the dispatcher")
struct AnyConnectionTests {
  @Test("the one method open to any connection is the one the dispatcher lets a denied peer call")
  func healthOnly() {
    let open = AccessPolicy.table.filter { $0.value == .anyConnection }.map(\.key)
    #expect(open == [Dispatcher.anyPeerMethod])
  }
}
