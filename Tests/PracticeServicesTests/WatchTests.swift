import Foundation
import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@Suite("Watch and the role matrix, in process", .serialized)
struct WatchTests {
  @Test("SYNCED first, then every change in order; kinds filter")
  func live() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      var req = Practice_V1_WatchRequest()
      req.accountID = s.account
      var it = try c.watch.watch(req).makeAsyncIterator()
      let first = try await it.next()
      #expect(first?.synced == true)
      var users = req
      users.kinds = [.user]
      var userIt = try c.watch.watch(users).makeAsyncIterator()
      #expect(try await userIt.next()?.synced == true)

      let start = try await c.accounts.getAccount(Make.get(s.account)).account.changeSequence
      _ = try await c.accounts.updateAccountSettings(settingsChange(s.account, "America/Chicago"))
      let u = try await c.accounts.addUser(Make.user(s.account, "New", roles: [.biller])).user
      let e1 = try #require(try await it.next()).change
      let e2 = try #require(try await it.next()).change
      #expect(e1.kind == .account && e1.sequence == start + 1 && e1.changeType == .updated && e1.version == 2)
      #expect(e2.kind == .user && e2.sequence == start + 2 && e2.resourceID == u.userID && e2.changeType == .created)
      let onlyUser = try #require(try await userIt.next()).change
      #expect(onlyUser.resourceID == u.userID)
    }
  }

  @Test("a watcher that subscribes with after_sequence after a read misses nothing")
  func afterSequence() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      let writer = try await d.connect()
      let total = 60
      let base = try await c.accounts.getAccount(Make.get(s.account)).account.changeSequence
      // Alternating zones: every write is a change.
      let writes = Task {
        for i in 0..<total { _ = try await writer.accounts.updateAccountSettings(settingsChange(s.account, zones[i % 2])) }
      }
      var seen = base
      while seen == base {
        seen = try await c.accounts.getAccount(Make.get(s.account)).account.changeSequence
      }
      let final = base + Int64(total)
      var req = Practice_V1_WatchRequest()
      req.accountID = s.account
      req.afterSequence = seen
      var sequences: [Int64] = []
      var synced = false
      if seen < final {
        for try await event in try c.watch.watch(req) {
          if event.synced { synced = true; continue }
          sequences.append(event.change.sequence)
          if event.change.sequence == final { break }
        }
      }
      try await writes.value
      if seen < final {
        #expect(synced)
        #expect(sequences == Array((seen + 1)...final))
      }
    }
  }

  @Test("a sequence older than what is kept ends WATCH_TOO_OLD")
  func tooOld() async throws {
    try await withServices(changeRetention: 5) { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      for i in 0..<20 { _ = try await c.accounts.updateAccountSettings(settingsChange(s.account, zones[i % 4])) }
      var req = Practice_V1_WatchRequest()
      req.accountID = s.account
      req.afterSequence = 1
      await expectRPCError(.failedPrecondition, .watchTooOld) {
        for try await _ in try c.watch.watch(req) {}
      }
      // A recent sequence still replays.
      let now = try await c.accounts.getAccount(Make.get(s.account)).account.changeSequence
      req.afterSequence = now - 3
      var replayed: [Int64] = []
      for try await e in try c.watch.watch(req) {
        if e.synced { break }
        replayed.append(e.change.sequence)
      }
      #expect(replayed == [now - 2, now - 1, now])
    }
  }

  @Test("operators may watch every account; service peers may not; cancelling a watch ends it cleanly")
  func allAccounts() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let a = try await Staff.make(c, name: "A")
      let b = try await Staff.make(c, name: "B")
      let watch = Task { () -> Set<String> in
        var accounts = Set<String>()
        for try await e in try c.watch.watch(Practice_V1_WatchRequest()) where !e.synced {
          accounts.insert(e.change.accountID)
          if accounts.count == 2 { break }
        }
        return accounts
      }
      try await Task.sleep(for: .milliseconds(100))
      _ = try await c.accounts.updateAccountSettings(settingsChange(a.account, "America/Denver"))
      _ = try await c.accounts.updateAccountSettings(settingsChange(b.account, "America/Denver"))
      #expect(try await watch.value == [a.account, b.account])

      let svc = try await d.connect(as: .service)
      await expectRPCError(.permissionDenied, .roleRequired) {
        for try await _ in try svc.watch.watch(Practice_V1_WatchRequest(), options: .init(actor: a.owner)) {}
      }
      // A service peer watching its own account, then stopping: the daemon goes on serving.
      var own = Practice_V1_WatchRequest()
      own.accountID = a.account
      for try await e in try svc.watch.watch(own, options: .init(actor: a.practitioner)) {
        #expect(e.synced)
        break
      }
      #expect(try await svc.health.check().status == .serving)
      // The cancelled watches' handlers end (on their own tasks, soon after the break).
      var waited = 0
      while c.inFlight + svc.inFlight > 0 && waited < 500 {
        try await Task.sleep(for: .milliseconds(10))
        waited += 1
      }
      #expect(c.inFlight == 0 && svc.inFlight == 0)
    }
  }

  @Test("the role matrix through the typed clients: every served method, every role")
  func roleWalk() async throws {
    try await withServices { d in
      let op = try await d.connect()
      let s = try await Staff.make(op)
      let svc = try await d.connect(as: .service)
      let served = try await op.reflection.describe().methods.filter { $0.hasPrefix("/practice.v1.") }
      // Every practice.v1 method is served, and PRODUCT.md's table (ProductMatrix) names each.
      #expect(Set(served) == Set(ProductMatrix.allowed.keys))
      let denied = try await d.connect(as: .denied)
      let roles: [(Practice_V1_Role, String)] = [
        (.owner, s.owner), (.administrator, s.admin), (.practitioner, s.practitioner), (.biller, s.biller),
        (.scheduler, s.scheduler), (.supervisor, s.supervisor),
      ]
      var decoding = JSONDecodingOptions()
      decoding.ignoreUnknownFields = true
      let json = """
        {"accountId": "\(s.account)", "userId": "user_missing", "locationId": "loc_missing", "roomId": "room_missing",
         "bookingId": "bk_missing", "invoiceId": "inv_missing", "payerId": "payer_missing", "newOwnerUserId": "user_missing",
         "renderingUserId": "user_missing", "dateOfService": "2026-01-05"}
        """
      for path in served {
        let method = try #require(MethodCatalog.method(path))
        let payload = try method.requestType.init(jsonString: json, options: decoding).serializedData()
        let allowed = try #require(ProductMatrix.allowed[path])
        for (role, actor) in roles {
          var outcome: RPCError?
          do {
            if method.serverStreaming {
              for try await _ in svc.serverStream(method: path, payload: payload, options: .init(actor: actor)) { break }
            } else {
              _ = try await svc.unary(method: path, payload: payload, options: .init(actor: actor, timeout: .seconds(5)))
            }
          } catch let e as RPCError {
            outcome = e
          }
          if allowed.contains(role) {
            #expect(outcome?.code != .permissionDenied, "\(path) should allow \(role): \(String(describing: outcome))")
          } else {
            #expect(outcome?.reason == .roleRequired, "\(path) should deny \(role): \(String(describing: outcome))")
          }
        }
        // A denied peer is refused every one of them.
        do {
          _ = try await denied.unary(method: path, payload: payload, options: .init(timeout: .seconds(5)))
          Issue.record("\(path) served a denied peer")
        } catch let e as RPCError {
          #expect(e.reason == .peerNotAllowed, "\(path): \(e)")
        }
      }
    }
  }
}
