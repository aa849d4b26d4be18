import Foundation
import PracticeProto
import PracticeCore

/// Prices and terms, from the daemon's configuration file (docs/OPERATIONS.md, "Billing").
public struct BillingTerms: Sendable, Hashable {
  public var currency = "USD"
  /// Monthly prices in minor units.
  public var freemiumMinor: Int64 = 1_900
  public var professionalMinor: Int64 = 5_900
  public var archiveMinor: Int64 = 900
  public var trialDays = 30
  public var retentionDays = 30
  public var graceDays = 7

  public init() {}

  public func price(_ plan: Practice_V1_Plan) -> Int64 {
    switch plan {
    case .freemium: freemiumMinor
    case .professional: professionalMinor
    default: 0
    }
  }
}

/// Billing periods, chargeability and invoices (PRODUCT.md, "Subscription and billing").
public enum BillingRules {
  public static let dayMs: Int64 = 86_400_000

  /// A calendar with the account's zone.
  public static func calendar(_ timeZone: String) -> Calendar {
    var c = Calendar(identifier: .gregorian)
    c.timeZone = TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")!
    return c
  }

  /// The start of period `k` (0 = the sign-up period): the anniversary day of sign-up, k months on,
  /// at midnight in the account's zone; a day 29-31 anniversary falls on the month's last day in
  /// shorter months.
  public static func periodStart(createdAtMs: Int64, k: Int, timeZone: String) -> Int64 {
    let cal = calendar(timeZone)
    let created = cal.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(createdAtMs) / 1000))
    var month = DateComponents()
    month.year = created.year
    month.month = created.month! + k
    month.day = 1
    let first = cal.date(from: month)!
    let days = cal.range(of: .day, in: .month, for: first)!.count
    month.day = min(created.day!, days)
    return Int64(cal.date(from: month)!.timeIntervalSince1970 * 1000)
  }

  /// The index of the period containing `nowMs` (0 before the first anniversary).
  public static func periodIndex(createdAtMs: Int64, nowMs: Int64, timeZone: String) -> Int {
    var k = max(0, Int((nowMs - createdAtMs) / (31 * dayMs)) - 1)
    while periodStart(createdAtMs: createdAtMs, k: k + 1, timeZone: timeZone) <= nowMs { k += 1 }
    return k
  }

  /// `YYYY-MM-DD` of an instant in a zone.
  public static func date(_ ms: Int64, timeZone: String) -> String {
    let c = calendar(timeZone).dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(ms) / 1000))
    return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
  }

  /// Whether a period is chargeable, and why.
  public static func chargeable(plan: Practice_V1_Plan, activeClients: Int64, electronicClaims: Int64) -> (Bool, String) {
    switch plan {
    case .trial: return (false, "trial")
    case .professional: return (true, "PROFESSIONAL is charged every period")
    case .freemium:
      if activeClients >= 4 { return (true, "\(activeClients) active clients (4 or more)") }
      if electronicClaims >= 1 { return (true, "\(electronicClaims) electronic claim(s) submitted") }
      return (false, "FREEMIUM with \(activeClients) active client(s) and no electronic claims")
    default: return (false, "no plan")
    }
  }

  /// An invoice's lines and total for a period. A closed account is billed only its archive storage.
  public static func invoiceLines(
    plan: Practice_V1_Plan, closed: Bool, archive: Bool, activeClients: Int64, electronicClaims: Int64,
    terms: BillingTerms
  ) -> (lines: [Practice_V1_InvoiceLine], total: Int64, reason: String) {
    var lines: [Practice_V1_InvoiceLine] = []
    var reason = "account closed"
    if !closed {
      let (charge, why) = chargeable(plan: plan, activeClients: activeClients, electronicClaims: electronicClaims)
      reason = why
      var line = Practice_V1_InvoiceLine()
      line.description_p = "\(planName(plan)) plan" + (charge ? "" : " (not chargeable: \(why))")
      line.amountMinor = charge ? terms.price(plan) : 0
      lines.append(line)
    }
    if archive {
      var line = Practice_V1_InvoiceLine()
      line.description_p = "Archive storage"
      line.amountMinor = terms.archiveMinor
      lines.append(line)
    }
    return (lines, lines.reduce(0) { $0 + $1.amountMinor }, reason)
  }

  /// The lines a plan change inside a period adds to its invoice, prorated by day: a credit for the
  /// days of the old plan it did not use, a charge for the new plan's days. `daysLeft` of `periodDays`
  /// (calendar days in the account's zone) remain from the change's day; each plan's price counts only
  /// when the period would be chargeable under it.
  public static func prorationLines(
    from: Practice_V1_Plan, to: Practice_V1_Plan, daysLeft: Int, periodDays: Int, activeClients: Int64,
    electronicClaims: Int64, terms: BillingTerms
  ) -> [Practice_V1_InvoiceLine] {
    func share(_ plan: Practice_V1_Plan) -> Int64 {
      let (charge, _) = chargeable(plan: plan, activeClients: activeClients, electronicClaims: electronicClaims)
      guard charge, periodDays > 0 else { return 0 }
      return (terms.price(plan) * Int64(daysLeft) + Int64(periodDays) / 2) / Int64(periodDays)
    }
    var credit = Practice_V1_InvoiceLine()
    credit.description_p = "Credit: \(planName(from)) plan, \(daysLeft) of \(periodDays) days unused"
    credit.amountMinor = -share(from)
    var charge = Practice_V1_InvoiceLine()
    charge.description_p = "\(planName(to)) plan, \(daysLeft) of \(periodDays) days"
    charge.amountMinor = share(to)
    return [credit, charge]
  }

  /// Whole calendar days from `fromMs`'s day to `toMs`'s day in the zone.
  public static func days(from fromMs: Int64, to toMs: Int64, timeZone: String) -> Int {
    let cal = calendar(timeZone)
    let a = cal.startOfDay(for: Date(timeIntervalSince1970: Double(fromMs) / 1000))
    let b = cal.startOfDay(for: Date(timeIntervalSince1970: Double(toMs) / 1000))
    return cal.dateComponents([.day], from: a, to: b).day ?? 0
  }

  public static func planName(_ p: Practice_V1_Plan) -> String {
    switch p {
    case .trial: "TRIAL"
    case .freemium: "FREEMIUM"
    case .professional: "PROFESSIONAL"
    default: "UNSPECIFIED"
    }
  }

  /// Validates a card on file: token, brand, last 4 digits, an expiry `YYYY-MM` not before the current
  /// month (in the account's zone), a billing ZIP.
  public static func validatePaymentMethod(
    _ p: inout Practice_V1_PaymentMethod, nowMs: Int64, timeZone: String
  ) throws(DomainError) {
    var v = Violations()
    let f = "payment_method."
    if p.processorToken.isEmpty || p.processorToken.utf8.count > 256 {
      v.add(f + "processor_token", "is required (at most 256 bytes)")
    }
    if let problem = TextRules.checkName(p.brand, maxLength: 40) { v.add(f + "brand", problem) }
    if p.last4.count != 4 || !p.last4.allSatisfy({ $0.isASCII && $0.isNumber }) { v.add(f + "last4", "must be 4 digits") }
    let parts = p.expiry.split(separator: "-")
    if p.expiry.count != 7 || parts.count != 2 || Int(parts[0]) == nil || !(1...12).contains(Int(parts[1]) ?? 0) {
      v.add(f + "expiry", "must be YYYY-MM")
    } else if p.expiry < String(date(nowMs, timeZone: timeZone).prefix(7)) {
      v.add(f + "expiry", "the card has expired")
    }
    if let zip = Identifiers.normalizeZIP(p.billingZip) {
      p.billingZip = zip
    } else {
      v.add(f + "billing_zip", "must be 5 or 9 digits")
    }
    try v.check()
  }
}

/// The card-number rule: a run of 13-19 digits, with at most one space or dash between digits and
/// bounded by non-digits, that passes Luhn.
public enum CardNumbers {
  /// A cheap first look: fewer than 13 ASCII digits in all can hold no card number.
  public static func mayContain(_ text: String) -> Bool {
    var text = text
    return text.withUTF8 { mayContain(UnsafeRawBufferPointer($0)) }
  }

  /// `mayContain` for bytes: false when they hold fewer than 13 ASCII digits in all (so no string
  /// encoded in them can hold a card number).
  @Sendable public static func mayContain(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var digits = 0
    for b in bytes where b &- 48 < 10 {
      digits += 1
      if digits >= 13 { return true }
    }
    return false
  }

  /// Whether `text` holds something that looks like a card number.
  public static func contains(_ text: String) -> Bool {
    let scalars = Array(text.unicodeScalars)
    var i = 0
    while i < scalars.count {
      guard isDigit(scalars[i]) else { i += 1; continue }
      // A maximal run: digit groups joined by one space or dash.
      var groups: [[UInt8]] = [[]]
      var j = i
      while j < scalars.count {
        if isDigit(scalars[j]) {
          groups[groups.count - 1].append(UInt8(scalars[j].value - 48))
          j += 1
        } else if (scalars[j] == " " || scalars[j] == "-"), j + 1 < scalars.count, isDigit(scalars[j + 1]) {
          groups.append([])
          j += 1
        } else {
          break
        }
      }
      // Every span of whole groups with 13-19 digits (a card beside other numbers is still found).
      for a in groups.indices {
        var digits: [UInt8] = []
        for b in a..<groups.count {
          digits += groups[b]
          if digits.count > 19 { break }
          if digits.count >= 13 && luhn(digits) { return true }
        }
      }
      i = j
    }
    return false
  }

  private static func isDigit(_ s: Unicode.Scalar) -> Bool { s.value >= 48 && s.value <= 57 }

  static func luhn(_ digits: [UInt8]) -> Bool {
    var sum = 0
    for (n, d) in digits.reversed().enumerated() {
      var x = Int(d)
      if n % 2 == 1 {
        x *= 2
        if x > 9 { x -= 9 }
      }
      sum += x
    }
    return sum % 10 == 0
  }

  /// Whether a field is scanned for card numbers: free text, and the processor token (a card number is
  /// never a token); not identifiers (ids, refs, other tokens, masks).
  public static func isScanned(fieldPath: String) -> Bool {
    let leaf = fieldPath.split(separator: ".").last.map { String($0.split(separator: "[").first ?? "") } ?? fieldPath
    if leaf == "processor_token" { return true }
    if leaf == "update_mask" || leaf == "page_token" || leaf.hasSuffix("token") { return false }
    return !(leaf.hasSuffix("_id") || leaf.hasSuffix("_ids") || leaf.hasSuffix("_ref"))
  }
}
