import Foundation
import PracticeProto
import SwiftProtobuf
import Testing

/// Runs practicectl against a daemon; returns exit status, stdout, stderr.
func practicectl(_ args: [String], socket: String) throws -> (status: Int32, out: String, err: String) {
  let bin = URL(fileURLWithPath: TestDaemon.binary).deletingLastPathComponent().appendingPathComponent("practicectl").path
  let p = Process()
  p.executableURL = URL(fileURLWithPath: bin)
  p.arguments = args
  var env = ProcessInfo.processInfo.environment
  env["PRACTICED_SOCKET"] = socket
  p.environment = env
  let out = Pipe(), err = Pipe()
  p.standardOutput = out
  p.standardError = err
  try p.run()
  let o = out.fileHandleForReading.readDataToEndOfFile()
  let e = err.fileHandleForReading.readDataToEndOfFile()
  p.waitUntilExit()
  return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite("practicectl", .serialized)
struct CLITests {
  @Test("a scripted session with --json, tables, and the documented exit codes")
  func session() async throws {
    // practicectl runs as root: make uid 0 an operator for this daemon.
    try await withDaemon(["--operator-uids", "0"]) { d in
      let s = d.socketPath
      let created = try practicectl(["account", "create", "--name", "Harbor Therapy", "--owner-name", "Dana Lee",
                                     "--owner-email", "dana@harbor.example", "--owner-role", "practitioner", "--json"], socket: s)
      #expect(created.status == 0, "\(created.err)")
      let resp = try Practice_V1_CreateAccountResponse(jsonString: created.out.trimmingCharacters(in: .whitespacesAndNewlines))
      let acct = resp.account.accountID
      #expect(resp.owner.roles == [.owner, .practitioner])

      let table = try practicectl(["account", "list"], socket: s)
      #expect(table.status == 0 && table.out.contains("Harbor Therapy") && table.out.contains("ACCOUNT"))

      let added = try practicectl(["user", "add", acct, "--name", "Sam Ortiz", "--role", "scheduler", "--json"], socket: s)
      #expect(added.status == 0)
      let user = try Practice_V1_AddUserResponse(jsonString: added.out).user
      #expect(user.roles == [.scheduler])

      let updated = try practicectl(["user", "update", acct, user.userID, "--role", "biller", "--role", "practitioner"], socket: s)
      #expect(updated.status == 0 && updated.out.contains("PRACTITIONER,BILLER"))

      let settings = try practicectl(["account", "settings", acct, "--time-zone", "America/Chicago"], socket: s)
      #expect(settings.status == 0 && settings.out.contains("America/Chicago"))

      let call = try practicectl(["call", "GetAccount", "{\"accountId\": \"\(acct)\"}"], socket: s)
      #expect(call.status == 0)
      #expect(try Practice_V1_GetAccountResponse(jsonString: call.out).account.settings.timeZone == "America/Chicago")

      let described = try practicectl(["describe"], socket: s)
      #expect(described.status == 0 && described.out.contains("/practice.v1.AccountService/ListUsers"))

      // Errors: the daemon's status (exit 1) with code, reason and violations.
      let bad = try practicectl(["user", "add", acct, "--name", "", "--email", "nope", "--role", "biller"], socket: s)
      #expect(bad.status == 1)
      #expect(bad.err.contains("INVALID_ARGUMENT") && bad.err.contains("VALIDATION_FAILED") && bad.err.contains("email:"))
      // Usage (64) and an unreachable daemon (69).
      #expect(try practicectl(["user", "add"], socket: s).status == 64)
      #expect(try practicectl(["user", "add", acct, "--name", "x", "--role", "wizard"], socket: s).status == 64)
      #expect(try practicectl(["call", "NoSuchMethod"], socket: s).status == 64)
      #expect(try practicectl(["account", "list"], socket: d.socketPath + ".missing").status == 69)
      // Completions come from the argument parser.
      let completion = try practicectl(["--generate-completion-script", "bash"], socket: s)
      #expect(completion.status == 0 && completion.out.contains("practicectl"))
    }
  }
}
