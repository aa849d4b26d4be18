import Foundation
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeTestSupport
import PracticeWire
import SwiftProtobuf
import Testing

/// Whether `needle` occurs in the file (bytes), e.g. the database and its WAL.
func fileContains(_ path: String, _ needle: String) -> Bool {
  guard let data = FileManager.default.contents(atPath: path) else { return false }
  return data.range(of: Data(needle.utf8)) != nil
}

@Suite("Card numbers and exports", .serialized)
struct SecretsTests {
  @Test("a card number in a payment-method field, a business name or a user's name is refused and stored nowhere")
  func cardNumbers() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      let cards = ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"]
      var brand = card(s.account)
      brand.paymentMethod.brand = "Visa " + cards[0]
      let e1 = await expectRPCError(.invalidArgument, .cardNumberRefused) { _ = try await c.billing.setPaymentMethod(brand) }
      #expect(e1?.violations.map(\.field) == ["payment_method.brand"])
      let e2 = await expectRPCError(.invalidArgument, .cardNumberRefused) {
        _ = try await c.business.updateBusinessInfo(businessUpdate(s.account, ["practice_name"]) { $0.practiceName = "Harbor \(cards[1])" })
      }
      #expect(e2?.violations.map(\.field) == ["business_info.practice_name"])
      await expectRPCError(.invalidArgument, .cardNumberRefused) {
        _ = try await c.accounts.addUser(Make.user(s.account, "Pat \(cards[2])", roles: [.biller]))
      }
      await expectRPCError(.invalidArgument, .cardNumberRefused) {
        _ = try await c.accounts.createAccount(Make.account("Clinic 4111111111111111"), options: .init(idempotencyKey: "card-1"))
      }
      // Look-alikes that are not card numbers, and identifiers and timestamps that pass Luhn, are accepted.
      _ = try await c.accounts.addUser(Make.user(s.account, "Phone 617-555-0100, suite 4111", roles: [.biller]))
      let rs = try await RoomSetup.make(c)
      // 13 digits that pass Luhn.
      let luhnTimestamp = (0..<10).map { 1_894_028_400_000 + Int64($0) }.first { Identifiers_luhn(String($0)) }!
      let luhnRef = "6011000990139424"
      var req = book(rs.staff, room: rs.room, location: rs.location, start: luhnTimestamp, ref: luhnRef)
      req.endMs = luhnTimestamp + 3_000_000
      let booked = try await c.rooms.bookRoom(req).bookings[0]
      #expect(booked.appointmentRef == luhnRef && booked.startMs == luhnTimestamp)

      // None of the refused numbers reached the database, its WAL or the log.
      await d.stop()
      let db = d.stateDirectory + "/practiced.db"
      for number in cards {
        let digits = number.filter(\.isNumber)
        for path in [db, db + "-wal"] {
          #expect(!fileContains(path, number) && !fileContains(path, digits), "\(number) in \(path)")
        }
        #expect(!d.log.contains(number) && !d.log.contains(digits), "\(number) in the log")
      }
      #expect(!d.log.contains("Clinic 4111111111111111"))
    }
  }

  @Test("the export of a populated account spans frames, holds every row, and never the processor token")
  func export() async throws {
    try await withDaemon(["--max-frame-size", "65536", "--operator-uids", "0"]) { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      _ = try await c.billing.setPaymentMethod(card(s.account, token: "tok_secret_never_exported"))
      _ = try await c.billing.changePlan(plan(s.account, .professional))
      _ = try await c.business.updateBusinessInfo(businessUpdate(s.account, ["tax_id", "tax_id_type"]) {
        $0.taxID = "98-7654321"
        $0.taxIDType = .ein
      })
      for i in 0..<60 { _ = try await c.accounts.addUser(Make.user(s.account, "User \(i) " + String(repeating: "x", count: 100), roles: [.biller])) }
      var locations: [String] = []
      for i in 0..<12 { locations.append(try await c.locations.createLocation(office(s.account, "Location \(i)")).location.locationID) }
      _ = try await c.accounts.addUser(Make.user(s.account, "P2", roles: [.practitioner]))
      var rooms: [String] = []
      for i in 0..<4 {
        var room = Practice_V1_CreateRoomRequest()
        room.accountID = s.account
        room.room.name = "Room \(i)"
        room.room.locationIds = [locations[i]]
        rooms.append(try await c.rooms.createRoom(room).room.roomID)
      }
      for (i, room) in rooms.enumerated() {
        _ = try await c.rooms.bookRoom(book(s, room: room, location: locations[i], start: monday, weekly: 50))
      }
      var rule = Practice_V1_SetPayerPosRuleRequest()
      rule.accountID = s.account
      rule.rule.payerID = "p1"
      rule.rule.payerName = "Payer"
      rule.rule.homePosCode = "02"
      rule.rule.notHomePosCode = "02"
      _ = try await c.locations.setPayerPosRule(rule)
      try await advance(c, days: 95)  // three invoices
      let audit = try await auditEvents(c, s.account)

      var req = Practice_V1_ExportAccountRequest()
      req.accountID = s.account
      var chunks: [Practice_V1_ExportAccountChunk] = []
      for try await chunk in try c.accounts.exportAccount(req) {
        #expect(try chunk.serializedData().count < 65536)
        chunks.append(chunk)
      }
      #expect(chunks.count > 1)
      let users = chunks.flatMap(\.users), bookings = chunks.flatMap(\.bookings)
      #expect(users.count == 67)
      #expect(chunks.flatMap(\.locations).count == 12 && chunks.flatMap(\.rooms).count == 4)
      #expect(bookings.count == 200 && Set(bookings.map(\.bookingID)).count == 200)
      #expect(chunks.flatMap(\.invoices).count == 3 && chunks.flatMap(\.payerPosRules).count == 1)
      // The log as it was, and the export's own audit event (it holds the full tax id).
      let exported = chunks.flatMap(\.auditEvents)
      #expect(exported.count == audit.count + 1)
      #expect(exported.last?.note == "exported, the full tax id included" && exported.last?.method == "/practice.v1.AccountService/ExportAccount")
      #expect(chunks.first?.account.accountID == s.account)
      let business = try #require(chunks.first { $0.hasBusinessInfo }?.businessInfo)
      #expect(business.taxID == "98-7654321")
      let counts = Dictionary(uniqueKeysWithValues: (chunks.last?.counts ?? []).map { ($0.kind, $0.count) })
      #expect(counts["users"] == 67 && counts["bookings"] == 200 && counts["audit_events"] == Int64(audit.count + 1))
      #expect(counts["usage_reports"] == Int64(chunks.flatMap(\.usageReports).count))
      let all = try chunks.map { try $0.serializedData() }.reduce(Data(), +)
      #expect(all.range(of: Data("tok_secret_never_exported".utf8)) == nil)
      #expect(chunks.compactMap { $0.hasSubscription ? $0.subscription : nil }.first?.paymentMethod.last4 == "4242")

      // practicectl writes the export as JSON with mode 0600.
      let file = d.directory.appendingPathComponent("export.json").path
      let out = try await practicectl(["account", "export", s.account, "--out", file], socket: d.socketPath)
      #expect(out.status == 0, "\(out.err)")
      let attrs = try FileManager.default.attributesOfItem(atPath: file)
      #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)
      let text = try String(contentsOfFile: file, encoding: .utf8)
      #expect(text.contains("\"users\"") && !text.contains("tok_secret_never_exported"))
      let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
      #expect((json?["users"] as? [Any])?.count == 67 && (json?["bookings"] as? [Any])?.count == 200)
      // Streamed as it arrived, it is the chunks' fields in one document: the same as merging them.
      var merged = Practice_V1_ExportAccountChunk()
      for chunk in chunks { try merged.merge(serializedBytes: try chunk.serializedBytes() as [UInt8]) }
      // (This second export's audit log has the first export's read event too.)
      var streamed = try Practice_V1_ExportAccountChunk(jsonString: text)
      #expect(streamed.auditEvents.count == merged.auditEvents.count + 1)
      streamed.auditEvents = []
      merged.auditEvents = []
      streamed.counts = []
      merged.counts = []
      #expect(streamed == merged)
    }
  }
}

/// Luhn over a digit string (test helper, independent of the daemon's).
func Identifiers_luhn(_ s: String) -> Bool {
  var sum = 0
  for (i, ch) in s.reversed().enumerated() {
    var d = Int(ch.asciiValue! - 48)
    if i % 2 == 1 { d *= 2; if d > 9 { d -= 9 } }
    sum += d
  }
  return sum % 10 == 0
}
