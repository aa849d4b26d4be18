import Foundation
import Glibc
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeTestSupport
import Testing

/// Three daemons on three sockets sharing one PostgreSQL database (scripts/test's PostgreSQL pass,
/// `PRACTICED_TEST_POSTGRES`), and the PostgreSQL backend's start-up refusals.
@Suite("PostgreSQL: many instances, one database", .enabled(if: TestDaemon.onPostgres, "needs PRACTICED_TEST_POSTGRES"))
struct PostgresClusterTests {
  /// A new database and `n` daemons on it, each with its own socket, state directory and instance id;
  /// `body` gets them, an operator connection to each (closed afterwards), and the database's name.
  static func withCluster<T>(
    _ n: Int = 3, _ extra: [String] = [], _ body: ([TestDaemon], [PracticeConnection], String) async throws -> T
  ) async throws -> T {
    let name = "c_\(UInt32.random(in: 0...UInt32.max))"
    _ = try await TestDaemon.psql("postgres", "CREATE DATABASE \(name)")
    let url = TestDaemon.postgresURL(name)!
    var daemons: [TestDaemon] = []
    var cs: [PracticeConnection] = []
    do {
      // Started together: the migrations run once, under their advisory lock.
      daemons = try await withThrowingTaskGroup(of: (Int, TestDaemon).self) { group in
        for i in 0..<n {
          group.addTask { (i, try await TestDaemon(["--database", url, "--instance-id", "node\(i)"] + extra)) }
        }
        return try await group.reduce(into: []) { $0.append($1) }.sorted { $0.0 < $1.0 }.map(\.1)
      }
      for d in daemons { cs.append(try await d.connect()) }
      let r = try await body(daemons, cs, name)
      for c in cs { await c.close() }
      for d in daemons { await d.cleanUp() }
      return r
    } catch {
      for c in cs { await c.close() }
      for d in daemons {
        print("daemon log:\n\(d.log.suffix(3000))")
        await d.cleanUp()
      }
      throw error
    }
  }

  @Test("1,000 rounds: a write through one instance is read at its new version through the other two")
  func readAfterWrite() async throws {
    try await Self.withCluster { ds, cs, _ in
      let a = try await cs[0].accounts.createAccount(Make.account()).account
      var stale = 0
      for round in 0..<1000 {
        let writer = cs[round % 3]
        var req = Practice_V1_UpdateAccountSettingsRequest()
        req.accountID = a.accountID
        req.updateMask = ["time_zone"]
        req.settings.timeZone = zones[round % zones.count]
        let version = try await writer.accounts.updateAccountSettings(req).account.version
        for reader in [cs[(round + 1) % 3], cs[(round + 2) % 3]] {
          if try await reader.accounts.getAccount(Make.get(a.accountID)).account.version != version { stale += 1 }
        }
      }
      #expect(stale == 0)
    }
  }

  @Test("""
    the read cache across instances: a user's roles, a room and the business information changed through \
    one instance are what the next call through the other two sees (authorization included)
    """)
  func cacheAcrossInstances() async throws {
    try await Self.withCluster { ds, ops, _ in
      var services: [PracticeConnection] = []
      for d in ds { services.append(try await d.connect(as: .service)) }
      let a = try await ops[0].accounts.createAccount(Make.account()).account.accountID
      let bea = try await ops[0].accounts.addUser(Make.user(a, "Bea", roles: [.biller])).user
      for name in ["Pat", "Pia"] { _ = try await ops[1].accounts.addUser(Make.user(a, name, roles: [.practitioner])) }
      let loc = try await ops[1].locations.createLocation(office(a)).location.locationID
      var create = Practice_V1_CreateRoomRequest()
      create.accountID = a
      create.room.name = "Room 0"
      create.room.locationIds = [loc]
      let room = try await ops[2].rooms.createRoom(create).room.roomID
      var getRoom = Practice_V1_GetRoomRequest()
      getRoom.accountID = a
      getRoom.roomID = room
      var getBusiness = Practice_V1_GetBusinessInfoRequest()
      getBusiness.accountID = a
      var getSubscription = Practice_V1_GetSubscriptionRequest()
      getSubscription.accountID = a
      let asBea = CallOptions(actor: bea.userID)
      // Every instance has it all cached.
      for i in 0..<3 {
        _ = try await services[i].billing.getSubscription(getSubscription, options: asBea)
        _ = try await ops[i].rooms.getRoom(getRoom)
        _ = try await ops[i].business.getBusinessInfo(getBusiness)
      }
      var stale = 0
      for round in 0..<150 {
        let w = round % 3
        let readers = [(w + 1) % 3, (w + 2) % 3]
        // Bea loses and regains the BILLER role in turn.
        let biller = round % 2 == 1
        var user = Practice_V1_UpdateUserRequest()
        user.accountID = a
        user.userID = bea.userID
        user.updateMask = ["roles"]
        user.user.roles = biller ? [.biller] : [.scheduler]
        _ = try await ops[w].accounts.updateUser(user)
        var update = Practice_V1_UpdateRoomRequest()
        update.accountID = a
        update.roomID = room
        update.updateMask = ["name"]
        update.room.name = "Room \(round + 1)"
        let roomVersion = try await ops[w].rooms.updateRoom(update).room.version
        var business = Practice_V1_UpdateBusinessInfoRequest()
        business.accountID = a
        business.updateMask = ["legal_name"]
        business.businessInfo.legalName = "Harbor \(round)"
        let businessVersion = try await ops[w].business.updateBusinessInfo(business).businessInfo.version
        for r in readers {
          if biller {
            if (try? await services[r].billing.getSubscription(getSubscription, options: asBea)) == nil { stale += 1 }
          } else {
            let denied = await expectRPCError(.permissionDenied, .roleRequired) {
              _ = try await services[r].billing.getSubscription(getSubscription, options: asBea)
            }
            if denied == nil { stale += 1 }
          }
          if try await ops[r].rooms.getRoom(getRoom).room.version != roomVersion { stale += 1 }
          if try await ops[r].business.getBusinessInfo(getBusiness).businessInfo.version != businessVersion { stale += 1 }
        }
      }
      #expect(stale == 0)
      for c in services { await c.close() }
    }
  }

  @Test("30 concurrent BookRoom calls for overlapping slots over three instances (BLOCK): one succeeds, the rest ROOM_CONFLICT; an overlapping row written in SQL is refused")
  func bookingsAcrossInstances() async throws {
    try await Self.withCluster { ds, cs, db in
      let rs = try await RoomSetup.make(cs[0], policy: .block)
      let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
        for i in 0..<30 {
          let c = cs[i % 3]
          group.addTask {
            do {
              _ = try await c.rooms.bookRoom(
                book(rs.staff, room: rs.room, location: rs.location, start: monday + Int64(i % 5) * 60_000))
              return "ok"
            } catch let e as RPCError {
              return e.reason == .roomConflict ? "conflict" : "\(e)"
            }
          }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      #expect(outcomes.filter { $0 == "ok" }.count == 1, "\(outcomes)")
      #expect(outcomes.filter { $0 == "conflict" }.count == 29, "\(outcomes)")
      // The database's own backstop: a row that overlaps, written behind the daemons' back.
      let refused = try? await TestDaemon.psql(db, """
        INSERT INTO room_bookings (id, account_id, room_id, start_ms, end_ms, status, overridden, series_id, occurrence, version, body)
        VALUES ('bk_sql', '\(rs.staff.account)', '\(rs.room)', \(monday + 600_000), \(monday + 4_200_000), 1, false, '', 1, 1, '')
        """)
      #expect(refused == nil)
      #expect(try await TestDaemon.psql(db, "SELECT count(*) FROM room_bookings WHERE status = 1") == "1")
    }
  }

  @Test("one idempotency key sent to A, B and C while the first call is held: applied once, then all three replay it; another payload is IDEMPOTENCY_KEY_REUSED")
  func idempotencyAcrossInstances() async throws {
    try await Self.withCluster { ds, cs, db in
      let s = try await Staff.make(cs[0])
      let holder = try await ds[0].holdWriteLock(account: s.account, seconds: 1.5)
      let req = businessUpdate(s.account, ["legal_name"]) { $0.legalName = "Held LLC" }
      let c0 = cs[0]
      let first = Task { try await c0.business.updateBusinessInfo(req, options: .init(idempotencyKey: "held")) }
      try await Task.sleep(for: .milliseconds(400))
      for c in [cs[1], cs[2]] {
        await expectRPCError(.aborted, .idempotencyInProgress) {
          _ = try await c.business.updateBusinessInfo(req, options: .init(idempotencyKey: "held"))
        }
      }
      let applied = try await first.value.businessInfo
      #expect(applied.legalName == "Held LLC")
      await holder.wait()
      for c in cs {
        let replay = try await c.business.updateBusinessInfo(req, options: .init(idempotencyKey: "held")).businessInfo
        #expect(replay.version == applied.version)
      }
      let other = businessUpdate(s.account, ["legal_name"]) { $0.legalName = "Other LLC" }
      await expectRPCError(.failedPrecondition, .idempotencyKeyReused) {
        _ = try await cs[2].business.updateBusinessInfo(other, options: .init(idempotencyKey: "held"))
      }
      let events = try await auditEvents(cs[1], s.account, method: updateBusinessMethod)
      #expect(events.count == 1)
      #expect(try await TestDaemon.psql(db, "SELECT count(*) FROM idempotency") == "1")
    }
  }

  @Test("writes through three instances at once: every account's versions and change sequences have no gap, audit events match, and each names its instance")
  func concurrentWriters() async throws {
    try await Self.withCluster { ds, cs, db in
      let s = try await Staff.make(cs[0])
      let versions = try await withThrowingTaskGroup(of: Int64.self) { group in
        for i in 0..<60 {
          let c = cs[i % 3]
          group.addTask {
            let req = businessUpdate(s.account, ["legal_name"]) { $0.legalName = "Firm \(i) LLC" }
            return try await c.business.updateBusinessInfo(req).businessInfo.version
          }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      // Every acknowledged write got its own version: the account lock serialized them.
      #expect(Set(versions).count == 60, "\(versions.sorted())")
      let events = try await auditEvents(cs[2], s.account, method: updateBusinessMethod)
      #expect(events.count == 60)
      #expect(Set(events.map(\.instanceID)) == ["node0", "node1", "node2"])
      let gaps = try await TestDaemon.psql(db, """
        SELECT count(*) FROM (SELECT sequence - lag(sequence) OVER (ORDER BY sequence) AS step
          FROM change_events WHERE account_id = '\(s.account)') s WHERE step <> 1
        """)
      #expect(gaps == "0")
      // The audit log is append-only in the database itself: an UPDATE is refused by its trigger.
      let rewritten = try? await TestDaemon.psql(db, "UPDATE audit_events SET method = 'forged'")
      #expect(rewritten == nil)
      #expect(try await TestDaemon.psql(db, "SELECT count(*) FROM audit_events WHERE method = 'forged'") == "0")
    }
  }

  @Test("a database outage: calls fail UNAVAILABLE (never OK), Health NOT_SERVING; it clears by itself when the database returns")
  func outage() async throws {
    try await Self.withCluster(1, ["--health-probe-interval-ms", "200"]) { ds, cs, db in
      let c = cs[0]
      let a = try await c.accounts.createAccount(Make.account()).account
      // This database only: no new connections, and the daemon's are ended.
      _ = try await TestDaemon.psql("postgres", "ALTER DATABASE \(db) ALLOW_CONNECTIONS false")
      _ = try await TestDaemon.psql(
        "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(db)'")
      await expectRPCError(.unavailable, .storeUnavailable) {
        _ = try await c.accounts.updateAccountSettings(settingsChange(a.accountID, "America/Chicago"))
      }
      var notServing = false
      for _ in 0..<50 where !notServing {
        notServing = try await c.health.check().status == .notServing
        if !notServing { try await Task.sleep(for: .milliseconds(100)) }
      }
      #expect(notServing)
      _ = try await TestDaemon.psql("postgres", "ALTER DATABASE \(db) ALLOW_CONNECTIONS true")
      let back = ContinuousClock.now
      var serving = false
      while !serving && ContinuousClock.now - back < .seconds(5) {
        serving = try await c.health.check().status == .serving
        if !serving { try await Task.sleep(for: .milliseconds(100)) }
      }
      #expect(serving, "SERVING again within 5 s of the database's return")
      let v = try await c.accounts.updateAccountSettings(settingsChange(a.accountID, "America/Denver")).account.version
      #expect(v == a.version + 1)
    }
  }

  @Test("a statement unanswered past database.statement_deadline_seconds closes its connection: the call fails UNAVAILABLE instead of waiting, and the next one works")
  func statementDeadline() async throws {
    let config = FileManager.default.temporaryDirectory.appendingPathComponent("practiced-\(UUID().uuidString.prefix(6)).conf")
    try "database.statement_deadline_seconds = 1\n".write(to: config, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: config) }
    try await Self.withCluster(1, ["--config", config.path]) { ds, cs, _ in
      let c = cs[0]
      let a = try await c.accounts.createAccount(Make.account()).account
      // The account's row held for 6 s: the write waits for its lock with no answer, as it would on a
      // network that drops everything.
      let holder = try await ds[0].holdWriteLock(account: a.accountID, seconds: 6)
      let start = ContinuousClock.now
      await expectRPCError(.unavailable, .storeUnavailable) {
        _ = try await c.accounts.updateAccountSettings(settingsChange(a.accountID, "America/Chicago"))
      }
      #expect(ContinuousClock.now - start < .seconds(5), "failed after \(ContinuousClock.now - start), not at the deadline")
      #expect(ds[0].log.contains("got no answer in time"))
      await holder.wait()
      let v = try await c.accounts.updateAccountSettings(settingsChange(a.accountID, "America/Denver")).account.version
      #expect(v == a.version + 1)
    }
  }

  @Test("start-up refuses a database that is not practiced's, one whose schema is newer, and a server that may lose commits")
  func refusals() async throws {
    func url(_ db: String) -> String { TestDaemon.postgresURL(db)! }
    func refused(_ db: String, _ needle: String) async throws {
      do {
        let d = try await TestDaemon(["--database", url(db)])
        await d.cleanUp()
        Issue.record("practiced started on \(db)")
      } catch let e as TestFailure {
        #expect(e.description.contains(needle), "\(e.description.suffix(1500))")
      }
    }
    let foreign = "f_\(UInt32.random(in: 0...UInt32.max))"
    _ = try await TestDaemon.psql("postgres", "CREATE DATABASE \(foreign)")
    _ = try await TestDaemon.psql(foreign, "CREATE TABLE patients (id int)")
    try await refused(foreign, "not a practiced database")
    #expect(try await TestDaemon.psql(foreign, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "1")

    try await Self.withCluster(1) { ds, _, db in
      await ds[0].stop()
      _ = try await TestDaemon.psql(db, "UPDATE practiced_meta SET value = '99' WHERE key = 'schema_version'")
      try await refused(db, "newer than this practiced knows")
      _ = try await TestDaemon.psql(db, "UPDATE practiced_meta SET value = '1' WHERE key = 'schema_version'")
      _ = try await TestDaemon.psql("postgres", "ALTER DATABASE \(db) SET synchronous_commit = off")
      try await refused(db, "synchronous_commit = off")
      _ = try await TestDaemon.psql("postgres", "ALTER DATABASE \(db) RESET synchronous_commit")
      try await ds[0].start()
    }
  }

  @Test("""
    over TCP the connection is TLS, checked: verify-full with the server's CA connects (every session \
    encrypted); a host name the certificate does not name, or a CA not trusted, is refused; verify-ca \
    skips the name only
    """)
  func tlsOverTCP() async throws {
    // A second throwaway server, started as scripts/test starts the first (scripts/lib/postgres.sh).
    let lib = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("scripts/lib/postgres.sh").path
    func shell(_ script: String, _ args: [String]) async throws {
      let r = try await runCommand("/bin/bash", ["-c", "set -e; source \"$0\"; " + script, lib] + args)
      guard r.status == 0 else { throw TestFailure("\(script): \(r.err)") }
    }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("practiced-tls-\(UUID().uuidString.prefix(8))").path
    let port = Int.random(in: 20_000...40_000)
    try await shell(#"start_postgres_tls "$1" "$2"; create_database tls"#, [dir, "\(port)"])
    do {
      try await tlsChecks(dir: dir, port: port)
    } catch {
      Issue.record(error)
    }
    try await shell(#"PG_SOCKET_DIR=$1 stop_postgres"#, [dir])
    try? FileManager.default.removeItem(atPath: dir)
  }

  /// What `tlsOverTCP` checks, against its server (socket and certificates in `dir`, TCP on `port`).
  func tlsChecks(dir: String, port: Int) async throws {
    let user = TestDaemon.postgres!.user
    func url(_ host: String, _ query: String) -> String {
      "postgresql://\(user)@\(host):\(port)/tls" + (query.isEmpty ? "" : "?\(query)")
    }
    let d = try await TestDaemon(["--database", url("localhost", "sslmode=verify-full&sslrootcert=\(dir)/ca.crt")])
    let c = try await d.connect()
    _ = try await c.accounts.createAccount(Make.account())
    let r = try await runCommand(TestDaemon.psql, ["-h", dir, "-p", "\(port)", "-U", user, "-d", "tls", "-qtAX", "-c", """
      SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
      WHERE a.application_name LIKE 'practiced/%'
      """])
    let counts = r.out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|")
    #expect(counts.count == 2 && counts[0] != "0" && counts[0] == counts[1], "sessions, encrypted: \(r.out) \(r.err)")
    await c.close()
    await d.cleanUp()

    func refused(_ database: String, _ why: String) async {
      do {
        let d = try await TestDaemon(["--database", database])
        await d.cleanUp()
        Issue.record("practiced started with \(database) (\(why))")
      } catch {
        // The operator is told why: the certificate.
        #expect("\(error)".contains("certificate") || "\(error)".contains("CERTIFICATE"), "\("\(error)".suffix(800))")
      }
    }
    await refused(url("127.0.0.1", "sslmode=verify-full&sslrootcert=\(dir)/ca.crt"), "the certificate names localhost only")
    await refused(url("localhost", "sslmode=verify-full"), "the system does not trust the test CA")
    await refused(url("localhost", ""), "verify-full is the default")
    let ca = try await TestDaemon(["--database", url("127.0.0.1", "sslmode=verify-ca&sslrootcert=\(dir)/ca.crt")])
    await ca.cleanUp()
  }

  @Test("the URL: a password in it is refused; the daemon's log never shows one")
  func urlRules() async throws {
    let pg = TestDaemon.postgres!
    do {
      let d = try await TestDaemon(["--database", "postgresql://\(pg.user):sekrit@/x?host=\(pg.socketDirectory)"])
      await d.cleanUp()
      Issue.record("a URL with a password was taken")
    } catch let e as TestFailure {
      #expect(e.description.contains("PGPASSWORD or password_file"))
      #expect(!e.description.contains("sekrit"))
    }
  }

  @Test("watchers on B and C while 900 writes go through A, B and C: each sees every sequence once, in order, though B's listening connection is killed mid-burst; a resume replays, then SYNCED, then live")
  func watchAcrossInstances() async throws {
    try await Self.withCluster { ds, cs, db in
      let s = try await Staff.make(cs[0])
      let start = try await cs[0].accounts.getAccount(Make.get(s.account)).account.changeSequence
      let total = 900
      func watcher(_ c: PracticeConnection, after: Int64, until: Int64) -> Task<[Int64], Error> {
        Task {
          var req = Practice_V1_WatchRequest()
          req.accountID = s.account
          req.afterSequence = after
          var seen: [Int64] = []
          for try await e in try c.watch.watch(req) where !e.synced {
            seen.append(e.change.sequence)
            if e.change.sequence >= until { break }
          }
          return seen
        }
      }
      let end = start + Int64(total)
      let watchers = [watcher(cs[1], after: start, until: end), watcher(cs[2], after: start, until: end)]
      try await Task.sleep(for: .milliseconds(300))
      try await withThrowingTaskGroup(of: Void.self) { group in
        for w in 0..<3 {
          let c = cs[w]
          group.addTask {
            for i in 0..<(total / 3) {
              let req = businessUpdate(s.account, ["legal_name"]) { $0.legalName = "Firm \(w)-\(i) LLC" }
              _ = try await c.business.updateBusinessInfo(req)
            }
          }
        }
        group.addTask {
          try await Task.sleep(for: .milliseconds(500))
          let killed = try await TestDaemon.psql(db, """
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE application_name = 'practiced/node1/listen' AND datname = '\(db)'
            """)
          #expect(killed == "1")
        }
        try await group.waitForAll()
      }
      let expected = Array((start + 1)...end)
      for w in watchers {
        let seen = try await w.value
        #expect(seen == expected, "\(seen.count) events; first differences: \(zip(seen, expected).filter { $0 != $1 }.prefix(3))")
      }
      // A resume from k: k+1... replayed, then SYNCED, then live events.
      let k = start + 450
      var req = Practice_V1_WatchRequest()
      req.accountID = s.account
      req.afterSequence = k
      var replayed: [Int64] = []
      var live: [Int64] = []
      var synced = false
      for try await e in try cs[2].watch.watch(req) {
        if e.synced {
          synced = true
          let c0 = cs[0]
          Task { _ = try await c0.business.updateBusinessInfo(businessUpdate(s.account, ["legal_name"]) { $0.legalName = "Last LLC" }) }
          continue
        }
        if synced { live.append(e.change.sequence); break } else { replayed.append(e.change.sequence) }
      }
      #expect(replayed == Array((k + 1)...end))
      #expect(live == [end + 1])
    }
  }

  @Test("""
    50 accounts with work due: the leader's runs and Advance through all three instances at once do each \
    job once (one invoice per account and period, one close per account, one audit event per job); the \
    test clock is shared; after kill -9 of the leader another runs the due work within two intervals
    """)
  func dueWorkOnce() async throws {
    let interval = 2.0
    let config = FileManager.default.temporaryDirectory.appendingPathComponent("practiced-\(UUID().uuidString.prefix(6)).conf")
    try "scheduler.interval_seconds = \(Int(interval))\n".write(to: config, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: config) }
    let marker = "this instance now runs the scheduler"
    let issue = "/practice.daemon.Scheduler/IssueInvoice"
    let close = "/practice.daemon.Scheduler/CloseTrialExpired"
    try await Self.withCluster(3, ["--config", config.path]) { ds, cs, db in
      /// Moves the shared test clock at the database, running nothing.
      func moveClock(_ ms: Int64) async throws {
        _ = try await TestDaemon.psql(db, """
          INSERT INTO test_clock (id, offset_ms) VALUES (1, \(ms))
          ON CONFLICT (id) DO UPDATE SET offset_ms = test_clock.offset_ms + EXCLUDED.offset_ms
          """)
      }
      // 25 paying accounts and 25 on trial, created through the three instances.
      var paying: [String] = []
      var trial: [String] = []
      for i in 0..<50 {
        let c = cs[i % 3]
        if i % 2 == 0 {
          paying.append(try await payingAccount(c, "Paying \(i)"))
        } else {
          trial.append(try await c.accounts.createAccount(Make.account("Trial \(i)", email: "")).account.accountID)
        }
      }
      let leaders = ds.filter { $0.log.contains(marker) }
      #expect(leaders.count == 1, "\(leaders.count) leaders")

      // 31 days on, moved at the database: the first period ends, the trials too. Then Advance
      // through all three at once, while the leader runs on its own timer.
      try await moveClock(31 * day)
      let nows = try await withThrowingTaskGroup(of: Int64.self) { group in
        for c in cs {
          group.addTask {
            var r = Practice_Test_V1_AdvanceRequest()
            r.byMs = 1
            return try await c.testClock.advance(r).nowMs
          }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      // One clock: every instance is 31 days ahead of the wall clock.
      let wall = Int64(Date().timeIntervalSince1970 * 1000)
      for now in nows { #expect(now - wall > 31 * day - 60_000 && now - wall < 31 * day + 60_000) }
      for a in paying {
        let inv = try await invoices(cs[1], a)
        #expect(inv.count == 1, "\(a): \(inv.count) invoices")
        #expect(try await auditEvents(cs[2], a, method: issue).count == inv.count)
      }
      for a in trial {
        #expect(try await state(cs[0], a).state == .closed)
        #expect(try await auditEvents(cs[1], a, method: close).count == 1)
      }

      // kill -9 of the leader; the clock moves another 31 days at the database, with nobody calling
      // Advance: the next leader finds the second period's invoices due on its own.
      guard let leader = leaders.first else { return }
      let others = ds.indices.filter { ds[$0] !== leader }
      await leader.kill9()
      try await moveClock(31 * day)
      let killedAt = ContinuousClock.now
      var firstInvoiceAfter: Duration?
      while ContinuousClock.now - killedAt < .seconds(60) {
        let issued = Int(try await TestDaemon.psql(db, "SELECT count(*) FROM invoices")) ?? 0
        if issued > paying.count && firstInvoiceAfter == nil { firstInvoiceAfter = ContinuousClock.now - killedAt }
        if issued == 2 * paying.count { break }
        try await Task.sleep(for: .milliseconds(100))
      }
      let tookOver = firstInvoiceAfter.map { $0 < .seconds(2 * interval + 1) } ?? false
      #expect(tookOver, "the next leader's first invoice came \(firstInvoiceAfter.map { "\($0)" } ?? "never") after the kill")
      #expect(others.filter { ds[$0].log.contains(marker) }.count == 1)
      for a in paying {
        let inv = try await invoices(cs[others[0]], a)
        #expect(inv.count == 2, "\(a): \(inv.count) invoices")
        #expect(Set(inv.map(\.periodStart)).count == inv.count)
        #expect(try await auditEvents(cs[others[1]], a, method: issue).count == inv.count)
      }
    }
  }
}
