import Foundation
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeTestSupport
import PracticeWire
import Testing

/// Text with SQL-significant characters, quotes, a backslash, LIKE wildcards, control characters
/// (a newline, a tab, BEL, ESC with a terminal escape, DEL, C1) and non-ASCII: stored and returned
/// byte for byte. U+0000 is the one character the protocol refuses (tested in ProtocolTests).
func hostileText(_ tag: String) -> String {
  "\(tag) O'Brien\"; DROP TABLE accounts;-- %_ \\ \n\t\u{7}\u{1b}[31m\u{7f}\u{85} ñ 東京 😀 ' OR '1'='1"
}

@Suite("Security: verbatim text, no secrets in logs", .serialized)
struct SecurityTests {
  @Test("SQL-significant and control characters in every free-text field are stored and returned verbatim, in replies, reads, lists and the audit log")
  func verbatimText() async throws {
    // practicectl runs as root: make uid 0 an operator for this daemon.
    try await withDaemon(["--operator-uids", "0"]) { d in
      let c = try await d.connect()
      var create = Make.account(hostileText("practice"), owner: hostileText("owner"), email: "")
      create.ownerEmail = ""
      let created = try await c.accounts.createAccount(create)
      let a = created.account.accountID
      #expect(created.account.practiceName == hostileText("practice"))
      #expect(created.owner.name == hostileText("owner"))
      let got = try await c.accounts.getAccount(Make.get(a))
      #expect(got.account.practiceName == hostileText("practice"))

      let user = try await c.accounts.addUser(Make.user(a, hostileText("user"), roles: [.practitioner])).user
      #expect(user.name == hostileText("user"))
      var users = Practice_V1_ListUsersRequest()
      users.accountID = a
      #expect(try await c.accounts.listUsers(users).users.map(\.name).sorted() == [hostileText("owner"), hostileText("user")].sorted())
      _ = try await c.accounts.addUser(Make.user(a, "Second Practitioner", roles: [.practitioner]))

      let info = try await c.business.updateBusinessInfo(businessUpdate(a, ["practice_name", "legal_name", "address"]) {
        $0.practiceName = hostileText("business")
        $0.legalName = hostileText("legal")
        $0.address.line1 = hostileText("line1")
        $0.address.line2 = hostileText("line2")
        $0.address.city = hostileText("city")
        $0.address.state = "MA"
        $0.address.zip = "02134"
      }).businessInfo
      var getInfo = Practice_V1_GetBusinessInfoRequest()
      getInfo.accountID = a
      let readInfo = try await c.business.getBusinessInfo(getInfo).businessInfo
      for b in [info, readInfo] {
        #expect(b.practiceName == hostileText("business") && b.legalName == hostileText("legal"))
        #expect(b.address.line1 == hostileText("line1") && b.address.line2 == hostileText("line2") && b.address.city == hostileText("city"))
      }

      var loc = office(a, hostileText("location"))
      loc.location.address.line1 = hostileText("loc-line1")
      let location = try await c.locations.createLocation(loc).location
      var getLoc = Practice_V1_GetLocationRequest()
      getLoc.accountID = a
      getLoc.locationID = location.locationID
      let readLoc = try await c.locations.getLocation(getLoc).location
      #expect(location.name == hostileText("location") && readLoc.name == hostileText("location"))
      #expect(readLoc.address.line1 == hostileText("loc-line1"))

      var rule = Practice_V1_SetPayerPosRuleRequest()
      rule.accountID = a
      rule.rule.payerID = "payer-1"
      rule.rule.payerName = hostileText("payer")
      rule.rule.homePosCode = "10"
      rule.rule.notHomePosCode = "02"
      _ = try await c.locations.setPayerPosRule(rule)
      var rules = Practice_V1_ListPayerPosRulesRequest()
      rules.accountID = a
      #expect(try await c.locations.listPayerPosRules(rules).rules.map(\.payerName) == [hostileText("payer")])

      var room = Practice_V1_CreateRoomRequest()
      room.accountID = a
      room.room.name = hostileText("room")
      room.room.locationIds = [location.locationID]
      let r = try await c.rooms.createRoom(room).room
      var getRoom = Practice_V1_GetRoomRequest()
      getRoom.accountID = a
      getRoom.roomID = r.roomID
      let readRoom = try await c.rooms.getRoom(getRoom).room
      #expect(r.name == hostileText("room") && readRoom.name == hostileText("room"))

      var bookReq = Practice_V1_BookRoomRequest()
      bookReq.accountID = a
      bookReq.roomID = r.roomID
      bookReq.locationID = location.locationID
      bookReq.practitionerUserID = user.userID
      bookReq.startMs = 4_102_444_800_000
      bookReq.endMs = bookReq.startMs + 3_000_000
      bookReq.appointmentRef = hostileText("ref")
      _ = try await c.rooms.bookRoom(bookReq)
      var bookings = Practice_V1_ListRoomBookingsRequest()
      bookings.accountID = a
      bookings.roomID = r.roomID
      bookings.toMs = bookReq.endMs + 1
      #expect(try await c.rooms.listRoomBookings(bookings).bookings.map(\.appointmentRef) == [hostileText("ref")])

      _ = try await c.billing.setPaymentMethod(card(a, brand: "Visa \u{1b}' --"))
      var sub = Practice_V1_GetSubscriptionRequest()
      sub.accountID = a
      #expect(try await c.billing.getSubscription(sub).subscription.paymentMethod.brand == "Visa \u{1b}' --")

      // The audit log keeps the text too: its JSON, decoded, holds every value as it was sent.
      var stored = Set<String>()
      func collect(_ v: Any) {
        if let s = v as? String { stored.insert(s) }
        if let d = v as? [String: Any] { d.values.forEach(collect) }
        if let a = v as? [Any] { a.forEach(collect) }
      }
      for e in try await auditEvents(c, a) where !e.afterJson.isEmpty {
        collect(try JSONSerialization.jsonObject(with: Data(e.afterJson.utf8)))
      }
      for tag in ["practice", "owner", "user", "business", "legal", "line1", "location", "payer", "room", "ref"] {
        #expect(stored.contains(hostileText(tag)), "\(tag) is not in the audit log verbatim")
      }
      // The business information's practice name is the account's.
      #expect(try await c.accounts.getAccount(Make.get(a)).account.practiceName == hostileText("business"))
      // Closing asks the name typed back: control characters and all.
      var close = Practice_V1_CloseAccountRequest()
      close.accountID = a
      close.confirmPracticeName = hostileText("business")
      #expect(try await c.accounts.closeAccount(close).account.state == .closed)
      // practicectl shows the stored control characters escaped, never raw to the terminal.
      let shown = try await practicectl(["account", "get", a], socket: d.socketPath)
      #expect(shown.status == 0 && shown.out.contains("business O'Brien\"; DROP TABLE"))
      #expect(shown.out.contains("\\u{1b}[31m") && !shown.out.contains("\u{1b}") && !shown.out.contains("\u{7}"))
      // No raw control character reaches the daemon's log (a name could forge or split a line).
      #expect(!d.log.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7f })
      await c.close()
    }
  }

  @Test("no secret reaches the daemon's log: not the processor token, not the tax id, at debug level")
  func noSecretsInLogs() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      let token = "tok_live_Zq81secretValue"
      _ = try await c.billing.setPaymentMethod(card(s.account, token: token))
      _ = try await c.business.updateBusinessInfo(businessUpdate(s.account, ["tax_id", "tax_id_type", "billing_provider_type", "legal_name"]) {
        $0.taxID = "98-7654321"
        $0.taxIDType = .ein
        $0.billingProviderType = .organization
        $0.legalName = "Harbor Therapy LLC"
      })
      var get = Practice_V1_GetBusinessInfoRequest()
      get.accountID = s.account
      get.fullTaxID = true
      #expect(try await c.business.getBusinessInfo(get).businessInfo.taxID == "98-7654321")
      // A refused request carrying the token and the tax id in other fields is not echoed either.
      await expectRPCError(.invalidArgument, .validationFailed) {
        _ = try await c.billing.setPaymentMethod(card(s.account, token: token, expiry: "98-7654321"))
      }
      var sub = Practice_V1_GetSubscriptionRequest()
      sub.accountID = s.account
      let pm = try await c.billing.getSubscription(sub).subscription.paymentMethod
      #expect(pm.processorToken.isEmpty && pm.last4 == "4242")
      let events = try await auditEvents(c, s.account)
      let text = d.log + events.map { $0.beforeJson + $0.afterJson + $0.note }.joined()
      #expect(d.log.contains("mutation applied"))  // the log did record these calls
      for secret in [token, "Zq81secret", "7654321", "987654321"] {
        #expect(!text.contains(secret), "\(secret) in the log or the audit log")
      }
      // Nor the audit log's stored rows: every column, the binary before and after included.
      if TestDaemon.onPostgres {
        let secrets = [token, "Zq81secret", "7654321"]
        let found = try await d.sql("""
          SELECT (SELECT count(*) FROM audit_events WHERE after_pb IS NOT NULL) || ' ' ||
            (SELECT count(*) FROM audit_events, unnest(ARRAY[\(secrets.map { "'\($0)'" }.joined(separator: ","))]) AS s(t)
             WHERE position(convert_to(s.t, 'UTF8') IN body || coalesce(before_pb, ''::bytea) || coalesce(after_pb, ''::bytea)) > 0)
          """)
        #expect(found.hasSuffix(" 0") && !found.hasPrefix("0 "), "\(found)")
        await c.close()
        return
      }
      let stored = try await runCommand("python3", ["-c", """
        import sqlite3, sys
        c = sqlite3.connect(sys.argv[1])
        rows = c.execute("SELECT body, before_pb, after_pb FROM audit_events WHERE after_pb IS NOT NULL").fetchall()
        data = b"".join(v for r in rows for v in r if v is not None)
        print(len(rows), [s for s in sys.argv[2:] if s.encode() in data])
        """, d.stateDirectory + "/practiced.db", token, "Zq81secret", "7654321"])
      #expect(stored.status == 0 && stored.out.hasSuffix(" []\n") && !stored.out.hasPrefix("0 "), "\(stored)")
      await c.close()
    }
  }
}

@Suite("Instance identity")
struct InstanceIdentityTests {
  @Test("audit events and log lines name the instance (--instance-id, else the host name); a bad name is refused")
  func instanceID() async throws {
    try await withDaemon(["--instance-id", "clinic-host-a"]) { d in
      let c = try await d.connect()
      let created = try await c.accounts.createAccount(Make.account())
      let events = try await auditEvents(c, created.account.accountID)
      #expect(!events.isEmpty && events.allSatisfy { $0.instanceID == "clinic-host-a" })
      #expect(d.log.contains("instance=clinic-host-a"), "\(d.log.suffix(400))")
      await c.close()
    }
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, buffer.count)
    let host = String(cString: buffer)
    try await withDaemon { d in
      let c = try await d.connect()
      let created = try await c.accounts.createAccount(Make.account())
      #expect(try await auditEvents(c, created.account.accountID).first?.instanceID == host)
      await c.close()
    }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("instance-\(UUID().uuidString.prefix(6))").path
    let refused = try await runCommand(TestDaemon.binary, ["--socket", dir + "/s", "--state-dir", dir, "--instance-id", "a b/c"])
    #expect(refused.status == 64 && refused.err.contains("--instance-id"))
  }
}
