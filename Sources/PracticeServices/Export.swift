import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore
import SwiftProtobuf

/// ExportAccount: every piece of an account's data in chunks under a byte limit, each handed to
/// `emit` as soon as it is full (the export is never whole in memory); the last chunk carries a count
/// per kind. The business information has the full tax id; the subscription never has the processor
/// token.
enum Export {
  static func stream(
    _ r: any StoreReader, account: Practice_V1_Account, limit: Int, emit: (Practice_V1_ExportAccountChunk) throws -> Void
  ) throws {
    let id = account.accountID
    var counts: [(String, Int64)] = []

    // The chunk being filled, kept as plain arrays until it goes out: appending to a repeated field
    // of a message copies the whole array each time (the message's storage is shared with the getter),
    // which made an export of 100,000 bookings quadratic.
    var singles = Practice_V1_ExportAccountChunk()  // account, business information, subscription, counts
    var users: [Practice_V1_User] = [], locations: [Practice_V1_Location] = []
    var payerRules: [Practice_V1_PayerPosRule] = [], rooms: [Practice_V1_Room] = []
    var bookings: [Practice_V1_RoomBooking] = [], invoices: [Practice_V1_Invoice] = []
    var auditEvents: [Practice_V1_AuditEvent] = [], usageReports: [Practice_V1_UsageReport] = []
    var currentSize = 0

    func flush() throws {
      var chunk = singles
      chunk.users = users
      chunk.locations = locations
      chunk.payerPosRules = payerRules
      chunk.rooms = rooms
      chunk.bookings = bookings
      chunk.invoices = invoices
      chunk.auditEvents = auditEvents
      chunk.usageReports = usageReports
      try emit(chunk)
      singles = Practice_V1_ExportAccountChunk()
      users = []; locations = []; payerRules = []; rooms = []
      bookings = []; invoices = []; auditEvents = []; usageReports = []
      currentSize = 0
    }

    /// Adds one item; sends the current chunk first when the item would take it past the limit. Sizes
    /// add up: a repeated or singular message field costs its bytes plus a tag and a length (at most 6).
    func add(_ item: some SwiftProtobuf.Message, _ apply: () -> Void) throws {
      let size = try item.serializedData().count + 6
      if currentSize + size > limit && currentSize > 0 { try flush() }
      apply()
      currentSize += size
    }

    try add(account) { singles.account = account }
    counts.append(("account", 1))

    /// Every row of a paged list, a page at a time.
    func each<T>(_ fetch: (String?) throws -> [T], key: (T) -> String) throws -> [T] {
      var all: [T] = []
      var after: String?
      while true {
        let batch = try fetch(after)
        guard let last = batch.last else { break }
        all += batch
        after = key(last)
      }
      return all
    }

    let allUsers = try each({ try r.users(account: id, after: $0, limit: 500, includeInactive: true) }, key: \.userID)
    for u in allUsers { try add(u) { users.append(u) } }
    counts.append(("users", Int64(allUsers.count)))

    if let b = try r.businessInfo(account: id) {
      var full = b
      if !full.taxID.isEmpty { full.taxID = Identifiers.displayTaxID(b.taxID, type: b.taxIDType) }
      try add(full) { singles.businessInfo = full }
      counts.append(("business_info", 1))
    }
    let allLocations = try each({ try r.locations(account: id, after: $0, limit: 500, includeArchived: true) }, key: \.locationID)
    for l in allLocations { try add(l) { locations.append(l) } }
    counts.append(("locations", Int64(allLocations.count)))

    let rules = try each({ try r.payerRules(account: id, after: $0, limit: 500) }, key: \.payerID)
    for rule in rules { try add(rule) { payerRules.append(rule) } }
    counts.append(("payer_pos_rules", Int64(rules.count)))

    let allRooms = try each({ try r.rooms(account: id, after: $0, limit: 500, includeArchived: true, locationID: nil) }, key: \.roomID)
    for room in allRooms { try add(room) { rooms.append(room) } }
    counts.append(("rooms", Int64(allRooms.count)))

    var bookingCount = 0
    for room in allRooms {
      var after: (Int64, String)?
      while true {
        let batch = try r.bookings(account: id, room: room.roomID, fromMs: Int64.min / 2, toMs: Int64.max, after: after,
                                   limit: 500, includeCancelled: true)
        guard let last = batch.last else { break }
        for b in batch { try add(b) { bookings.append(b) } }
        bookingCount += batch.count
        after = (last.startMs, last.bookingID)
      }
    }
    counts.append(("bookings", Int64(bookingCount)))

    if var s = try r.subscription(account: id) {
      if case .paymentMethod(var p)? = s.paymentMethodPresence {
        p.processorToken = ""
        s.paymentMethod = p
      }
      try add(s) { singles.subscription = s }
      counts.append(("subscription", 1))
    }
    let usage = try r.usageReports(account: id)
    for u in usage {
      var report = Practice_V1_UsageReport()
      report.periodStart = u.periodStart
      report.activeClients = u.activeClients
      report.electronicClaims = u.electronicClaims
      try add(report) { usageReports.append(report) }
    }
    counts.append(("usage_reports", Int64(usage.count)))
    var invoiceCount = 0
    var before: Int64?
    while true {
      let batch = try r.invoices(account: id, beforeNumber: before, limit: 500)
      guard let last = batch.last else { break }
      for i in batch { try add(i) { invoices.append(i) } }
      invoiceCount += batch.count
      before = last.number
    }
    counts.append(("invoices", Int64(invoiceCount)))

    var events = 0
    var afterEvent: Int64?
    while true {
      var q = AuditQuery(accountID: id, limit: 500)
      q.afterID = afterEvent
      let batch = try r.auditEvents(q)
      guard let last = batch.last else { break }
      for e in batch { try add(e) { auditEvents.append(e) } }
      events += batch.count
      afterEvent = last.eventID
    }
    counts.append(("audit_events", Int64(events)))

    // The counts go in the last chunk (a chunk of their own when they would not fit).
    let countMessages = counts.map { kind, n -> Practice_V1_ExportCount in
      var c = Practice_V1_ExportCount()
      c.kind = kind
      c.count = n
      return c
    }
    var countsOnly = Practice_V1_ExportAccountChunk()
    countsOnly.counts = countMessages
    try add(countsOnly) { singles.counts = countMessages }
    try flush()
  }
}
