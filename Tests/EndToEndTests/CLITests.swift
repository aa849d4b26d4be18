import Foundation
import Glibc
import PracticeProto
import PracticeTestSupport
import SwiftProtobuf
import Testing

/// The terminal column at which `marker` starts in a table line (CJK characters count two).
func Output_displayColumn(_ line: String, of marker: String) -> Int {
  var column = 0
  for ch in line {
    if String(ch) == marker { return column }
    let v = ch.unicodeScalars.first!.value
    column += (0x3000...0x9FFF).contains(v) || (0xAC00...0xD7A3).contains(v) ? 2 : 1
  }
  return -1
}

/// Runs practicectl against a daemon; returns exit status, stdout, stderr.
func practicectl(_ args: [String], socket: String, input: String? = nil) async throws -> (status: Int32, out: String, err: String) {
  let bin = URL(fileURLWithPath: TestDaemon.binary).deletingLastPathComponent().appendingPathComponent("practicectl").path
  var env = ProcessInfo.processInfo.environment
  env["PRACTICED_SOCKET"] = socket
  return try await runCommand(bin, args, environment: env, input: input)
}

@Suite("practicectl", .serialized)
struct CLITests {
  @Test("a scripted session with --json, tables, and the documented exit codes")
  func session() async throws {
    // practicectl runs as root: make uid 0 an operator for this daemon.
    try await withDaemon(["--operator-uids", "0"]) { d in
      let s = d.socketPath
      let created = try await practicectl(["account", "create", "--name", "Harbor Therapy", "--owner-name", "Dana Lee",
                                     "--owner-email", "dana@harbor.example", "--owner-role", "practitioner", "--json"], socket: s)
      #expect(created.status == 0, "\(created.err)")
      let resp = try Practice_V1_CreateAccountResponse(jsonString: created.out.trimmingCharacters(in: .whitespacesAndNewlines))
      let acct = resp.account.accountID
      #expect(resp.owner.roles == [.owner, .practitioner])

      let table = try await practicectl(["account", "list"], socket: s)
      #expect(table.status == 0 && table.out.contains("Harbor Therapy") && table.out.contains("ACCOUNT"))

      let added = try await practicectl(["user", "add", acct, "--name", "Sam Ortiz", "--role", "scheduler", "--json"], socket: s)
      #expect(added.status == 0)
      let user = try Practice_V1_AddUserResponse(jsonString: added.out).user
      #expect(user.roles == [.scheduler])

      let updated = try await practicectl(["user", "update", acct, user.userID, "--role", "biller", "--role", "practitioner"], socket: s)
      #expect(updated.status == 0 && updated.out.contains("PRACTITIONER,BILLER"))

      let settings = try await practicectl(["account", "settings", acct, "--time-zone", "America/Chicago"], socket: s)
      #expect(settings.status == 0 && settings.out.contains("America/Chicago"))

      let call = try await practicectl(["call", "GetAccount", "{\"accountId\": \"\(acct)\"}"], socket: s)
      #expect(call.status == 0)
      #expect(try Practice_V1_GetAccountResponse(jsonString: call.out).account.settings.timeZone == "America/Chicago")

      let described = try await practicectl(["describe"], socket: s)
      #expect(described.status == 0 && described.out.contains("/practice.v1.AccountService/ListUsers"))

      // Errors: the daemon's status (exit 10 + its code) with code, reason and violations.
      let bad = try await practicectl(["user", "add", acct, "--name", "", "--email", "nope", "--role", "biller"], socket: s)
      #expect(bad.status == 13)  // 10 + INVALID_ARGUMENT
      #expect(bad.err.contains("INVALID_ARGUMENT") && bad.err.contains("VALIDATION_FAILED") && bad.err.contains("email:"))
      // Usage (64) and an unreachable daemon (69).
      #expect(try await practicectl(["user", "add"], socket: s).status == 64)
      #expect(try await practicectl(["user", "add", acct, "--name", "x", "--role", "wizard"], socket: s).status == 64)
      #expect(try await practicectl(["call", "NoSuchMethod"], socket: s).status == 64)
      #expect(try await practicectl(["account", "list"], socket: d.socketPath + ".missing").status == 69)
      // Business information, the audit log and watch.
      let set = try await practicectl(["business", "set", acct, "--legal-name", "Harbor Therapy LLC", "--npi", "1234567893",
                                 "--npi-entity-type", "TYPE_1", "--billing-provider-type", "INDIVIDUAL", "--tax-id", "123-45-6789",
                                 "--tax-id-type", "SSN", "--address-line1", "12 Harbor St", "--address-city", "Boston",
                                 "--address-state", "MA", "--address-zip", "02134"], socket: s)
      #expect(set.status == 0, "\(set.err)")
      #expect(set.out.contains("***-**-6789 (masked)") && set.out.contains("12 Harbor St, Boston, MA, 02134"))
      let full = try await practicectl(["business", "get", acct, "--full-tax-id", "--json"], socket: s)
      #expect(try Practice_V1_GetBusinessInfoResponse(jsonString: full.out).businessInfo.taxID == "123-45-6789")
      let po = try await practicectl(["business", "set", acct, "--billing-line1", "PO Box 9", "--billing-city", "Boston",
                                "--billing-state", "MA", "--billing-zip", "02134"], socket: s)
      #expect(po.status == 13 && po.err.contains("business_info.billing_provider_address.line1"))
      let sender = try await practicectl(["business", "sender-email", acct, "--initiator", resp.owner.userID], socket: s)
      #expect(sender.status == 0 && sender.out.contains("dana@harbor.example") && sender.out.contains("INITIATOR"))
      let audit = try await practicectl(["audit", "list", acct, "--json"], socket: s)
      #expect(audit.status == 0)
      let events = try Practice_V1_ListAuditEventsResponse(jsonString: audit.out).events
      #expect(events.contains { $0.note == "full tax id read" })
      let auditTable = try await practicectl(["audit", "list", acct, "--method", "/practice.v1.BusinessService/UpdateBusinessInfo"], socket: s)
      #expect(auditTable.out.contains("UpdateBusinessInfo"))
      #expect(try await practicectl(["watch", acct, "--after", "1", "--kind", "nonsense"], socket: s).status == 64)

      // Completions come from the argument parser.
      let completion = try await practicectl(["--generate-completion-script", "bash"], socket: s)
      #expect(completion.status == 0 && completion.out.contains("practicectl"))
    }
  }
}

@Suite("practicectl watch", .serialized)
struct CLIWatchTests {
  @Test("watch prints one JSON line per event, SYNCED first")
  func watchLines() async throws {
    try await withDaemon(["--operator-uids", "0"]) { d in
      let c = try await d.connect()
      let a = try await c.accounts.createAccount(Make.account()).account
      let bin = URL(fileURLWithPath: TestDaemon.binary).deletingLastPathComponent().appendingPathComponent("practicectl").path
      let outPath = d.directory.appendingPathComponent("watch.out").path
      let outFD = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
      let p = try Child(bin, ["watch", a.accountID, "--after", "0", "--json", "--socket", d.socketPath], stdout: outFD)
      close(outFD)
      // "0: from now": a change is only seen once the watch is live, which its SYNCED line says. Wait for
      // that line rather than for a fixed time (an instrumented practicectl can take seconds to start).
      func lines() -> [String] {
        ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
      }
      func waitFor(_ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while lines().count < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
      }
      try await waitFor(1)
      #expect(lines().count == 1)
      _ = try await c.accounts.updateAccountSettings(settingsChange(a.accountID, "America/Denver"))
      _ = try await c.accounts.addUser(Make.user(a.accountID, "Sam", roles: [.biller]))
      try await waitFor(3)
      // Nothing more arrives: no duplicate and no event for the account's creation before the watch began.
      try await Task.sleep(for: .milliseconds(200))
      p.signal(SIGTERM)
      await p.wait()
      let lines = lines()
      #expect(lines.count == 3)
      let events = try lines.map { try Practice_V1_WatchEvent(jsonString: $0) }
      #expect(events.first?.synced == true)
      #expect(events.dropFirst().map(\.change.kind) == [.account, .user])
    }
  }
}

@Suite("practicectl locations and rooms", .serialized)
struct CLILocationRoomTests {
  @Test("locations, POS, payer rules, rooms and bookings from the command line")
  func flow() async throws {
    try await withDaemon(["--operator-uids", "0"]) { d in
      let s = d.socketPath
      let c = try await d.connect()
      let staff = try await Staff.make(c)
      let a = staff.account
      let loc = try await practicectl(["location", "create", a, "--name", "Main", "--pos-code", "11", "--address-line1", "12 Harbor St",
                                 "--address-city", "Boston", "--address-state", "MA", "--address-zip", "02134", "--json"], socket: s)
      #expect(loc.status == 0, "\(loc.err)")
      let locID = try Practice_V1_CreateLocationResponse(jsonString: loc.out).location.locationID
      let tele = try await practicectl(["location", "create", a, "--name", "Video", "--telehealth", "--json"], socket: s)
      let teleID = try Practice_V1_CreateLocationResponse(jsonString: tele.out).location.locationID
      #expect(try await practicectl(["location", "list", a], socket: s).out.contains("Video"))
      let bad = try await practicectl(["location", "create", a, "--name", "X", "--pos-code", "02", "--address-line1", "1 A St",
                                 "--address-city", "B", "--address-state", "MA", "--address-zip", "02134"], socket: s)
      #expect(bad.status == 13 && bad.err.contains("location.pos_code"))
      #expect(try await practicectl(["pos", "list", a], socket: s).out.contains("Telehealth Provided in Patient's Home"))
      let resolved = try await practicectl(["pos", "resolve", a, "--location", teleID, "--date", "2024-05-01", "--at-home"], socket: s)
      #expect(resolved.out.contains("10") && resolved.out.contains("TELEHEALTH_DEFAULT"))
      #expect(try await practicectl(["payer-rule", "set", a, "acme", "--name", "Acme", "--home", "02", "--not-home", "02"], socket: s).status == 0)
      let byRule = try await practicectl(["pos", "resolve", a, "--location", teleID, "--date", "2024-05-01", "--at-home", "--payer", "acme", "--json"], socket: s)
      #expect(try Practice_V1_ResolvePlaceOfServiceResponse(jsonString: byRule.out).posCode == "02")
      let old = try await practicectl(["pos", "resolve", a, "--location", teleID, "--date", "2021-12-31", "--at-home"], socket: s)
      #expect(old.status == 19 && old.err.contains("POS_NOT_EFFECTIVE"))

      _ = try await c.accounts.addUser(Make.user(a, "Second", roles: [.practitioner]))
      let room = try await practicectl(["room", "create", a, "--name", "Room 1", "--location", locID, "--json"], socket: s)
      let roomID = try Practice_V1_CreateRoomResponse(jsonString: room.out).room.roomID
      let booked = try await practicectl(["booking", "create", a, "--room", roomID, "--location", locID, "--practitioner", staff.practitioner,
                                    "--start", "2030-01-07T10:00:00-05:00", "--end", "2030-01-07T10:50:00-05:00"], socket: s)
      #expect(booked.status == 0, "\(booked.err)")
      let clash = try await practicectl(["booking", "create", a, "--room", roomID, "--location", locID, "--practitioner", staff.practitioner,
                                   "--start", "2030-01-07T10:30:00-05:00", "--end", "2030-01-07T11:00:00-05:00"], socket: s)
      #expect(clash.status == 19 && clash.err.contains("ROOM_CONFLICT"))
      let check = try await practicectl(["booking", "check", a, "--room", roomID, "--start", "2030-01-07T10:30:00-05:00", "--end", "2030-01-07T11:00:00-05:00"], socket: s)
      #expect(check.out.contains("conflicts with 1"))
      let over = try await practicectl(["booking", "create", a, "--room", roomID, "--location", locID, "--practitioner", staff.practitioner,
                                  "--start", "2030-01-07T10:30:00-05:00", "--end", "2030-01-07T11:00:00-05:00", "--override"], socket: s)
      #expect(over.status == 0 && over.out.contains("overrode 1"))
      let list = try await practicectl(["booking", "list", a, "--room", roomID, "--json"], socket: s)
      #expect(try Practice_V1_ListRoomBookingsResponse(jsonString: list.out).bookings.count == 2)

      // Times in the account's zone, with its name: a weekly 10:00 booking across the March and
      // November DST changes reads 10:00 every week; --utc shows 15:00 then 14:00 then 15:00.
      #expect(try await practicectl(["account", "settings", a, "--time-zone", "America/New_York"], socket: s).status == 0)
      let weekly = try await practicectl(["booking", "create", a, "--room", roomID, "--location", locID,
                                          "--practitioner", staff.practitioner, "--start", "2030-03-04T10:00", "--end", "2030-03-04T10:50",
                                          "--weekly", "36", "--every-weeks", "1", "--no-legend"], socket: s)
      #expect(weekly.status == 0, "\(weekly.err)")
      let rows = weekly.out.split(separator: "\n")
      #expect(rows.count == 36 && !weekly.out.contains("BOOKING"))
      #expect(rows.allSatisfy { $0.contains(" 10:00 ") && $0.contains(" 10:50 ") })
      let local = try await practicectl(["booking", "list", a, "--room", roomID, "--from", "2030-03-01T00:00", "--to", "2030-11-30T00:00"],
                                        socket: s)
      #expect(local.out.contains("START (America/New_York)") && local.out.contains("2030-03-04 10:00") && local.out.contains("2030-11-04 10:00"))
      let utc = try await practicectl(["booking", "list", a, "--room", roomID, "--from", "2030-03-01T00:00", "--to", "2030-11-30T00:00",
                                       "--utc"], socket: s)
      #expect(utc.out.contains("START (UTC)") && utc.out.contains("2030-03-04 15:00") && utc.out.contains("2030-03-11 14:00"))
      #expect(utc.out.contains("2030-11-04 15:00"))

      // A table aligns by display width: a CJK name takes two columns a character.
      _ = try await c.accounts.addUser(Make.user(a, "山田太郎", roles: [.biller]))
      let users = try await practicectl(["user", "list", a], socket: s)
      let lines = users.out.split(separator: "\n").map(String.init)
      let emailColumn = { (line: String) in Output_displayColumn(line, of: "-") }
      let cjk = try #require(lines.first { $0.contains("山田太郎") })
      let ascii = try #require(lines.first { $0.contains("Second") })
      #expect(emailColumn(cjk) == emailColumn(ascii), "\(users.out)")
      await c.close()
    }
  }
}

@Suite("practicectl billing and closing", .serialized)
struct CLIBillingTests {
  @Test("billing, invoices, close with a confirmation prompt, reopen")
  func flow() async throws {
    try await withDaemon(["--operator-uids", "0"]) { d in
      let s = d.socketPath
      let c = try await d.connect()
      let a = try await c.accounts.createAccount(Make.account()).account.accountID
      #expect(try await practicectl(["billing", "set-card", a, "--token", "tok_1", "--brand", "Visa", "--last4", "4242",
                               "--expiry", "2040-01", "--zip", "02134"], socket: s).status == 0)
      let planOut = try await practicectl(["billing", "plan", a, "professional"], socket: s)
      #expect(planOut.status == 0 && planOut.out.contains("PROFESSIONAL") && planOut.out.contains("Visa ****4242"))
      #expect(try await practicectl(["billing", "preview", a], socket: s).out.contains("PROFESSIONAL plan"))
      try await advance(c, days: 32)
      let list = try await practicectl(["invoice", "list", a], socket: s)
      #expect(list.out.contains("USD 59.00") && list.out.contains("OPEN"))
      #expect(try await practicectl(["billing", "tax-forms", a], socket: s).out.contains("1099"))
      let invoiceID = try #require(try await invoices(c, a).first).invoiceID
      let voided = try await practicectl(["invoice", "void", a, invoiceID, "--reason", "duplicate charge"], socket: s)
      #expect(voided.status == 0 && voided.out.contains("VOID") && voided.out.contains("duplicate charge"), "\(voided.err)")

      // Close: the prompt reads the practice name from standard input.
      let closed = try await practicectl(["account", "close", a], socket: s, input: "Harbor Therapy\n")
      #expect(closed.status == 0 && closed.out.contains("CLOSED"), "\(closed.err)")
      let mismatch = try await practicectl(["account", "reopen", a], socket: s)
      #expect(mismatch.status == 0 && mismatch.out.contains("ACTIVE"))
      let wrong = try await practicectl(["account", "close", a, "--confirm", "Harbour Therapy"], socket: s)
      #expect(wrong.status == 19 && wrong.err.contains("CONFIRMATION_MISMATCH"))
      await c.close()
    }
  }
}

@Suite("practicectl claim profile", .serialized)
struct CLIClaimTests {
  @Test("the CMS-1500 boxes in order, each problem on its line with the command that fixes it, exit 1 until ready")
  func profile() async throws {
    try await withDaemon(["--operator-uids", "0"]) { d in
      let s = d.socketPath
      let created = try await practicectl(["account", "create", "--name", "Harbor Therapy", "--owner-name", "Dana Lee", "--json"], socket: s)
      let a = try Practice_V1_CreateAccountResponse(jsonString: created.out).account.accountID
      #expect(try await practicectl(["business", "set", a, "--legal-name", "Harbor Therapy Group LLC", "--npi", "1234567893",
                                     "--npi-entity-type", "TYPE_2", "--billing-provider-type", "ORGANIZATION",
                                     "--taxonomy-code", "101YM0800X", "--tax-id-type", "EIN", "--tax-id", "12-3456789",
                                     "--address-line1", "12 Harbor St", "--address-city", "Boston", "--address-state", "MA",
                                     "--address-zip", "02134"], socket: s).status == 0)
      let added = try await practicectl(["user", "add", a, "--name", "Jordan Rivera", "--role", "practitioner",
                                         "--npi", "1245319599", "--json"], socket: s)
      #expect(added.status == 0, "\(added.err)")
      let user = try Practice_V1_AddUserResponse(jsonString: added.out).user.userID
      let loc = try await practicectl(["location", "create", a, "--name", "North End Office", "--pos-code", "11",
                                       "--address-line1", "300 Hanover St", "--address-city", "Boston", "--address-state", "MA",
                                       "--address-zip", "02113-2104",
                                       "--json"], socket: s)
      let location = try Practice_V1_CreateLocationResponse(jsonString: loc.out).location.locationID
      let args = ["claim", "profile", a, "--location", location, "--practitioner", user, "--date", "2026-03-02"]

      let first = try await practicectl(args, socket: s)
      #expect(first.status == 1, "\(first.err)")
      let lines = first.out.split(separator: "\n").map(String.init)
      // The boxes in the CMS-1500's order.
      let boxes = ["24B", "24J", "25 ", "32 ", "33 "].map { box in lines.firstIndex { $0.hasPrefix(box) } ?? -1 }
      #expect(!boxes.contains(-1) && boxes == boxes.sorted(), "\(first.out)")
      #expect(first.out.contains("11 Office (LOCATION_CODE)") && first.out.contains("Jordan Rivera (\(user))"))
      #expect(first.out.contains("**-***6789 (EIN)") && first.out.contains("North End Office: 300 Hanover St, Boston, MA 02113-2104"))
      #expect(first.out.contains("not ready: 2 problems"))
      let problems = lines.filter { $0.hasPrefix("  ") }
      #expect(problems.count == 2)
      #expect(problems.contains { $0.contains("ZIP_PLUS4_REQUIRED business_info.address.zip")
        && $0.contains("fix: practicectl business set \(a) --address-zip 12345-6789") })
      #expect(problems.contains { $0.contains("TAXONOMY_MISSING user.taxonomy_code")
        && $0.contains("fix: practicectl user update \(a) \(user) --taxonomy-code CODE") })

      // --json: the response, and the same exit status.
      let json = try await practicectl(args + ["--json"], socket: s)
      #expect(json.status == 1)
      let resp = try Practice_V1_ResolveClaimProfileResponse(jsonString: json.out)
      #expect(!resp.ready && resp.problems.count == 2)

      // The printed commands, with values, fix it.
      #expect(try await practicectl(["business", "set", a, "--address-zip", "02134-1234"], socket: s).status == 0)
      #expect(try await practicectl(["user", "update", a, user, "--taxonomy-code", "101YP2500X"], socket: s).status == 0)
      let ready = try await practicectl(args + ["--full-tax-id"], socket: s)
      #expect(ready.status == 0, "\(ready.out)")
      #expect(ready.out.contains("\nready\n") && ready.out.contains("12-3456789 (EIN)"))
      #expect(ready.out.contains("the billing-provider address") && ready.out.contains("12 Harbor St, Boston, MA 02134-1234"))
      let listed = try await practicectl(["user", "list", a], socket: s)
      #expect(listed.out.contains("1245319599") && listed.out.contains("101YP2500X"))
      // Refusals keep their status: an unknown location.
      let unknown = try await practicectl(["claim", "profile", a, "--location", "loc_nope", "--practitioner", user,
                                           "--date", "2026-03-02"], socket: s)
      #expect(unknown.status == 15 && unknown.err.contains("NOT_FOUND"))
    }
  }
}

@Suite("practicectl for scripts", .serialized)
struct CLIScriptingTests {
  @Test("--json prints every field, defaults included; --all is one document; errors are JSON on stderr")
  func json() async throws {
    try await withDaemon(["--operator-uids", "0"]) { d in
      let s = d.socketPath
      let c = try await d.connect()
      let staff = try await Staff.make(c)
      var deactivate = Practice_V1_DeactivateUserRequest()
      deactivate.accountID = staff.account
      deactivate.userID = staff.supervisor
      _ = try await c.accounts.deactivateUser(deactivate)

      // Defaults: an empty list is [], false is false, a zero is "0" (int64) or 0, the enum its zero name.
      let invoices = try await practicectl(["invoice", "list", staff.account, "--json"], socket: s)
      let empty = try JSONSerialization.jsonObject(with: Data(invoices.out.utf8)) as? [String: Any]
      #expect((empty?["invoices"] as? [Any])?.isEmpty == true && empty?["nextPageToken"] as? String == "")
      let users = try await practicectl(["user", "list", staff.account, "--include-inactive", "--page-size", "2", "--all", "--json"],
                                        socket: s)
      #expect(users.status == 0 && users.out.split(separator: "\n").count == 1, "one document: \(users.out)")
      let object = try JSONSerialization.jsonObject(with: Data(users.out.utf8)) as? [String: Any]
      let list = try #require(object?["users"] as? [[String: Any]])
      #expect(list.count == 6 && object?["nextPageToken"] as? String == "")
      // The jq a script would write: select(.active == false) finds the deactivated user.
      let inactive = list.filter { ($0["active"] as? Bool) == false }
      #expect(inactive.count == 1 && inactive.first?["userId"] as? String == staff.supervisor)
      #expect(list.allSatisfy { $0["email"] as? String != nil && $0["npi"] as? String != nil })
      // Every list pages the same way: a page and the next token on stderr, or --all.
      _ = try await c.locations.createLocation(office(staff.account, "North"))
      _ = try await c.locations.createLocation(office(staff.account, "South"))
      let page = try await practicectl(["location", "list", staff.account, "--page-size", "1", "--no-legend"], socket: s)
      #expect(page.out.split(separator: "\n").count == 1 && page.err.hasPrefix("next page: --page-token "), "\(page)")
      let every = try await practicectl(["location", "list", staff.account, "--page-size", "1", "--all", "--json"], socket: s)
      #expect(try Practice_V1_ListLocationsResponse(jsonString: every.out).locations.map(\.name).sorted() == ["North", "South"])
      #expect(every.err.isEmpty)
      let account = try await practicectl(["account", "get", staff.account, "--json"], socket: s)
      let a = try JSONSerialization.jsonObject(with: Data(account.out.utf8)) as? [String: Any]
      let fields = a?["account"] as? [String: Any]
      #expect(fields?["closedAtMs"] as? String == "0" && fields?["closeReason"] as? String == "CLOSE_REASON_UNSPECIFIED")
      // Still proto3 JSON: the response decodes back.
      #expect(try Practice_V1_GetAccountResponse(jsonString: account.out).account.accountID == staff.account)

      // An error with --json: one JSON object on stderr, nothing on stdout.
      let bad = try await practicectl(["user", "add", staff.account, "--name", "", "--email", "nope", "--role", "biller", "--json"],
                                      socket: s)
      #expect(bad.status == 13 && bad.out.isEmpty)
      let error = try JSONSerialization.jsonObject(with: Data(bad.err.utf8)) as? [String: Any]
      #expect(error?["code"] as? String == "INVALID_ARGUMENT" && error?["codeNumber"] as? Int == 3)
      #expect(error?["reason"] as? String == "VALIDATION_FAILED")
      let violations = error?["violations"] as? [[String: String]]
      #expect(Set(violations?.compactMap { $0["field"] } ?? []) == ["name", "email"])
      let unreachable = try await practicectl(["health", "--json"], socket: s + ".missing")
      #expect(unreachable.status == 69)
      let u = try JSONSerialization.jsonObject(with: Data(unreachable.err.utf8)) as? [String: Any]
      #expect(u?["code"] as? String == "UNAVAILABLE" && (u?["message"] as? String)?.contains("no such socket") == true)
      await c.close()
    }
  }

  @Test("describe METHOD and describe TYPE print fields from the daemon's descriptors, like grpcurl describe")
  func describe() async throws {
    try await withDaemon(["--operator-uids", "0"]) { d in
      let s = d.socketPath
      let method = try await practicectl(["describe", "ClaimService/ResolveClaimProfile"], socket: s)
      #expect(method.status == 0, "\(method.err)")
      #expect(method.out.contains("rpc /practice.v1.ClaimService/ResolveClaimProfile(practice.v1.ResolveClaimProfileRequest) returns (practice.v1.ResolveClaimProfileResponse)  // no side effects"))
      #expect(method.out.contains("  string rendering_user_id = 3;") && method.out.contains("  repeated practice.v1.ClaimProblem problems = 7;"))
      let stream = try await practicectl(["describe", "ExportAccount"], socket: s)
      #expect(stream.out.contains("returns (stream practice.v1.ExportAccountChunk)"))
      let type = try await practicectl(["describe", "practice.v1.Address"], socket: s)
      #expect(type.out.contains("message practice.v1.Address {") && type.out.contains("  string zip = 5;"))
      let oneof = try await practicectl(["describe", "Location"], socket: s)
      #expect(oneof.out.contains("practice.v1.Address address = 4;  // oneof address_presence"))
      let values = try await practicectl(["describe", "Role"], socket: s)
      #expect(values.out.contains("enum practice.v1.Role {") && values.out.contains("  ROLE_BILLER = 6;"))
      #expect(try await practicectl(["describe", "NoSuchThing"], socket: s).status == 64)
    }
  }

  @Test("exit codes tell the error kind: 10 + the status code; 1 for a no; 64 usage; 69 unreachable")
  func exitCodes() async throws {
    try await withDaemon(["--operator-uids", "0"]) { d in
      let s = d.socketPath
      let c = try await d.connect()
      let staff = try await Staff.make(c)
      let cases: [([String], Int32)] = [
        (["account", "get", "acct_missing"], 15),  // NOT_FOUND
        (["user", "add", staff.account, "--name", ""], 13),  // INVALID_ARGUMENT
        (["account", "settings", staff.account, "--time-zone", "UTC", "--expected-version", "99"], 20),  // ABORTED
        (["account", "close", staff.account, "--confirm", "Wrong name"], 19),  // FAILED_PRECONDITION
        (["user", "add", staff.account, "--name", "x", "--role", "wizard"], 64),
        (["nonsense"], 64),
      ]
      for (args, expected) in cases {
        let r = try await practicectl(args, socket: s)
        #expect(r.status == expected, "\(args): \(r.status) \(r.err)")
      }
      #expect(try await practicectl(["health"], socket: s + ".missing").status == 69)
      await c.close()
    }
    // PERMISSION_DENIED (17): root as a service peer, acting as a scheduler.
    try await withDaemon(["--service-uids", "0"]) { d in
      let staff = try await Staff.make(try await d.connect(as: .operator))
      let r = try await practicectl(["billing", "get", staff.account, "--actor", staff.scheduler], socket: d.socketPath)
      #expect(r.status == 17 && r.err.contains("ROLE_REQUIRED"), "\(r.status) \(r.err)")
    }
  }

  @Test("options before the subcommand; secrets from standard input; export to standard output")
  func anywhere() async throws {
    try await withDaemon(["--operator-uids", "0"]) { d in
      let s = d.socketPath
      let created = try await practicectl(["--socket", s, "--json", "account", "create", "--name", "Harbor Therapy",
                                           "--owner-name", "Dana Lee"], socket: "/nonexistent")
      #expect(created.status == 0, "\(created.err)")
      let account = try Practice_V1_CreateAccountResponse(jsonString: created.out).account.accountID
      #expect(try await practicectl(["--socket=\(s)", "health"], socket: "/nonexistent").out.contains("SERVING"))
      #expect(try await practicectl(["--timeout-ms", "5000", "--socket", s, "account", "get", account], socket: "/nonexistent").status == 0)

      // The tax id from standard input, never on the command line.
      let set = try await practicectl(["business", "set", account, "--tax-id-type", "EIN", "--tax-id-file", "-"], socket: s,
                                      input: "12-3456789\n")
      #expect(set.status == 0 && set.out.contains("**-***6789"), "\(set.err)")
      let full = try await practicectl(["business", "get", account, "--full-tax-id", "--json"], socket: s)
      #expect(try Practice_V1_GetBusinessInfoResponse(jsonString: full.out).businessInfo.taxID == "12-3456789")
      let file = NSTemporaryDirectory() + "token-\(UUID().uuidString)"
      try "tok_from_file\n".write(toFile: file, atomically: true, encoding: .utf8)
      defer { try? FileManager.default.removeItem(atPath: file) }
      let card = try await practicectl(["billing", "set-card", account, "--token-file", file, "--brand", "Visa", "--last4", "4242",
                                        "--expiry", "2040-01", "--zip", "02134"], socket: s)
      #expect(card.status == 0, "\(card.err)")
      #expect(try await practicectl(["billing", "set-card", account, "--brand", "Visa", "--last4", "4242", "--expiry", "2040-01",
                                     "--zip", "02134"], socket: s).status == 64)

      // --out -: the export on stdout (a pipe), the counts on stderr.
      let exported = try await practicectl(["account", "export", account, "--out", "-"], socket: s)
      #expect(exported.status == 0 && exported.err.contains("users=1"))
      let chunk = try Practice_V1_ExportAccountChunk(jsonString: exported.out)
      #expect(chunk.account.accountID == account && chunk.businessInfo.taxID == "12-3456789" && chunk.users.count == 1)
      #expect(!exported.out.contains("tok_from_file"))
      // An output file that exists is refused before the export starts: no export is audited.
      let existing = NSTemporaryDirectory() + "export-\(UUID().uuidString)"
      try "keep".write(toFile: existing, atomically: true, encoding: .utf8)
      defer { try? FileManager.default.removeItem(atPath: existing) }
      let audit = { try await practicectl(["audit", "list", account, "--json", "--all"], socket: s).out }
      let before = try Practice_V1_ListAuditEventsResponse(jsonString: try await audit()).events.count
      let refused = try await practicectl(["account", "export", account, "--out", existing], socket: s)
      #expect(refused.status == 64 && refused.err.contains("cannot create"))
      #expect(try String(contentsOfFile: existing, encoding: .utf8) == "keep")
      #expect(try Practice_V1_ListAuditEventsResponse(jsonString: try await audit()).events.count == before)
    }
  }
}

@Suite("practicectl completions", .serialized)
struct CLICompletionTests {
  @Test("completions: enum values and files in the scripts; time zones and account ids (from the daemon) when asked")
  func completions() async throws {
    try await withDaemon(["--operator-uids", "0"]) { d in
      let s = d.socketPath
      let created = try await practicectl(["account", "create", "--name", "Harbor", "--owner-name", "Dana", "--json"], socket: s)
      let account = try Practice_V1_CreateAccountResponse(jsonString: created.out).account.accountID
      for shell in ["bash", "zsh", "fish"] {
        let script = try await practicectl(["--generate-completion-script", shell], socket: s)
        #expect(script.status == 0 && script.out.contains("PRACTITIONER") && script.out.contains("ORGANIZATION"), "\(shell)")
        #expect(script.out.contains("---completion account get"), "\(shell)")
      }
      // What the scripts run when TAB is pressed on an account id: the ids the daemon lists.
      let ids = try await practicectl(["---completion", "account", "get", "--", "positional@0", "5", "5",
                                       "practicectl", "account", "get", "--socket", s, "acct_"], socket: "/nonexistent")
      #expect(ids.out.split(separator: "\n").map(String.init) == [account], "\(ids)")
      let zones = try await practicectl(["---completion", "account", "settings", "--", "--time-zone", "4", "9",
                                         "practicectl", "account", "settings", account, "--time-zone", "America/New"], socket: s)
      #expect(zones.out.split(separator: "\n").contains("America/New_York"))
      // A daemon that can't be reached completes nothing, quickly.
      let none = try await practicectl(["---completion", "account", "get", "--", "positional@0", "3", "0",
                                        "practicectl", "account", "get", ""], socket: s + ".missing")
      #expect(none.status == 0 && none.out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }
  }
}

@Suite("practicectl help")
struct CLIHelpTests {
  /// Every command path, from the argument parser's own description of the tool.
  static func commandPaths() async throws -> [[String]] {
    let out = try await practicectl(["--experimental-dump-help"], socket: "/nonexistent")
    let root = try JSONSerialization.jsonObject(with: Data(out.out.utf8)) as! [String: Any]
    func walk(_ c: [String: Any], _ prefix: [String]) -> [[String]] {
      let subs = c["subcommands"] as? [[String: Any]] ?? []
      return subs.flatMap { s -> [[String]] in
        let name = s["commandName"] as! String
        return name == "help" ? [] : [prefix + [name]] + walk(s, prefix + [name])
      }
    }
    return walk(root["command"] as! [String: Any], [])
  }

  @Test("every subcommand's --help works, and every practice.v1 method has a named subcommand")
  func help() async throws {
    let paths = try await Self.commandPaths()
    #expect(paths.count >= 60)
    for path in paths {
      let r = try await practicectl(path + ["--help"], socket: "/nonexistent")
      #expect(r.status == 0, "\(path.joined(separator: " ")) --help: \(r.err)")
      #expect(r.out.contains("USAGE: practicectl \(path.joined(separator: " "))"), "\(path)")
    }
    // The named subcommands cover the methods of PRODUCT.md (plus describe, health and call).
    let leaves = Set(paths.filter { p in !paths.contains { $0.count > p.count && Array($0.prefix(p.count)) == p } }
      .map { $0.joined(separator: " ") })
    let expected: Set<String> = [
      "account create", "account get", "account list", "account settings", "account close", "account reopen",
      "account export", "account transfer-owner", "user add", "user update", "user deactivate", "user reactivate",
      "user list",
      "business get", "business set", "business sender-email", "location create", "location get", "location list",
      "location update", "location archive", "location unarchive", "pos list", "pos resolve", "payer-rule set", "payer-rule list",
      "payer-rule delete", "room create", "room get", "room list", "room update", "room archive", "room unarchive", "booking create", "booking move",
      "booking cancel", "booking list", "booking check", "billing get", "billing plan", "billing set-card",
      "billing remove-card", "billing usage", "billing preview", "billing record-payment", "billing archive",
      "billing tax-forms", "invoice list", "invoice get", "invoice void", "audit list", "watch", "call", "describe", "health",
      "claim profile",
    ]
    #expect(expected.isSubset(of: leaves), "missing: \(expected.subtracting(leaves))")
  }
}
