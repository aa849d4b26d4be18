// This file imports the client library alone: what a caller needs must come with it.
import PracticeClient
import Testing

@Suite("import PracticeClient")
struct ImportTests {
  @Test("messages, statuses, reasons and errors come with the client library")
  func oneImport() {
    var request = Practice_V1_GetAccountRequest()
    request.accountID = "acct_1"
    let error = RPCError(.notFound, .notFound, "account acct_1")
    #expect(error.code == StatusCode.notFound && error.reason == Reason.notFound)
    #expect(request.accountID == "acct_1")
    #expect(!PracticeVersion.string.isEmpty)
    #expect(PracticeConnection.deadlineGrace == .milliseconds(500))
  }
}
