import Foundation
import PracticeCore
import PracticeDomain
import PracticeProto
import Testing

@Suite("Card numbers")
struct CardNumberTests {
  @Test("card numbers, plain or grouped, anywhere in free text", arguments: [
    "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "card: 5500 0000 0000 0004 thanks",
    "378282246310005", "6011000990139424x", "call 617 555 0100 4111 1111 1111 1111",
  ])
  func refused(_ text: String) { #expect(CardNumbers.contains(text)) }

  @Test("look-alikes are accepted", arguments: [
    "4111111111111112",  // fails Luhn
    "411111111111",  // 12 digits
    "41111111111111111111",  // 20 digits, one run
    "4111  1111 1111 1111",  // two spaces break the run
    "617-555-0100", "Suite 4111, 1111 Main St", "1234567893", "",
  ])
  func accepted(_ text: String) { #expect(!CardNumbers.contains(text)) }

  @Test("identifiers are not free text")
  func fields() {
    #expect(!CardNumbers.isScanned(fieldPath: "appointment_ref"))
    #expect(CardNumbers.isScanned(fieldPath: "payment_method.processor_token"))
    #expect(!CardNumbers.isScanned(fieldPath: "page_token"))
    #expect(!CardNumbers.isScanned(fieldPath: "room.location_ids[0]"))
    #expect(!CardNumbers.isScanned(fieldPath: "update_mask[1]"))
    #expect(CardNumbers.isScanned(fieldPath: "business_info.practice_name"))
    #expect(CardNumbers.isScanned(fieldPath: "payment_method.brand"))
    #expect(CardNumbers.isScanned(fieldPath: "name"))
  }
}

@Suite("Billing periods")
struct BillingPeriodTests {
  static func ms(_ iso: String) -> Int64 { Int64(ISO8601DateFormatter().date(from: iso)!.timeIntervalSince1970 * 1000) }

  @Test("anniversaries of a Jan 31 sign-up fall on the month's last day in shorter months, leap years included")
  func jan31() {
    let created = Self.ms("2028-01-31T15:00:00Z")
    let dates = (0...13).map { BillingRules.date(BillingRules.periodStart(createdAtMs: created, k: $0, timeZone: "UTC"), timeZone: "UTC") }
    #expect(dates == ["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30", "2028-05-31", "2028-06-30", "2028-07-31",
                      "2028-08-31", "2028-09-30", "2028-10-31", "2028-11-30", "2028-12-31", "2029-01-31", "2029-02-28"])
  }

  @Test("periods are computed in the account's zone")
  func zone() {
    // 03:00 UTC on March 1 is still February 28 in Los Angeles.
    let created = Self.ms("2027-03-01T03:00:00Z")
    #expect(BillingRules.date(BillingRules.periodStart(createdAtMs: created, k: 1, timeZone: "America/Los_Angeles"),
                              timeZone: "America/Los_Angeles") == "2027-03-28")
    #expect(BillingRules.periodIndex(createdAtMs: created, nowMs: created + 10 * BillingRules.dayMs, timeZone: "UTC") == 0)
    #expect(BillingRules.periodIndex(createdAtMs: created, nowMs: Self.ms("2027-04-01T00:00:01Z"), timeZone: "UTC") == 1)
  }

  @Test("chargeable periods and invoice lines")
  func charging() {
    var terms = BillingTerms()
    terms.freemiumMinor = 1000
    #expect(!BillingRules.chargeable(plan: .freemium, activeClients: 3, electronicClaims: 0).0)
    #expect(BillingRules.chargeable(plan: .freemium, activeClients: 4, electronicClaims: 0).0)
    #expect(BillingRules.chargeable(plan: .freemium, activeClients: 0, electronicClaims: 1).0)
    #expect(BillingRules.chargeable(plan: .professional, activeClients: 0, electronicClaims: 0).0)
    #expect(!BillingRules.chargeable(plan: .trial, activeClients: 100, electronicClaims: 100).0)
    let free = BillingRules.invoiceLines(plan: .freemium, closed: false, archive: false, activeClients: 3, electronicClaims: 0, terms: terms)
    #expect(free.total == 0 && free.lines.count == 1)
    let charged = BillingRules.invoiceLines(plan: .freemium, closed: false, archive: false, activeClients: 4, electronicClaims: 0, terms: terms)
    #expect(charged.total == 1000)
    let archived = BillingRules.invoiceLines(plan: .professional, closed: true, archive: true, activeClients: 0, electronicClaims: 0, terms: terms)
    #expect(archived.lines.map(\.description_p) == ["Archive storage"] && archived.total == terms.archiveMinor)
  }

  @Test("payment methods: expiry, last 4, ZIP")
  func paymentMethod() throws {
    var p = Practice_V1_PaymentMethod()
    p.processorToken = "tok"
    p.brand = "Visa"
    p.last4 = "4242"
    p.expiry = "2027-03"
    p.billingZip = "02134-1234"
    let march2027 = Self.ms("2027-03-15T00:00:00Z")
    try BillingRules.validatePaymentMethod(&p, nowMs: march2027, timeZone: "UTC")
    #expect(p.billingZip == "021341234")
    p.expiry = "2027-02"
    #expect(throws: DomainError.self) { try BillingRules.validatePaymentMethod(&p, nowMs: march2027, timeZone: "UTC") }
    p.expiry = "2027-13"
    #expect(throws: DomainError.self) { try BillingRules.validatePaymentMethod(&p, nowMs: march2027, timeZone: "UTC") }
    p.expiry = "2030-01"
    p.last4 = "42a2"
    #expect(throws: DomainError.self) { try BillingRules.validatePaymentMethod(&p, nowMs: march2027, timeZone: "UTC") }
  }
}

@Suite("Card-number precheck")
struct CardPrecheckTests {
  @Test("mayContain is true for every text contains() flags, and false below 13 digits")
  func precheck() {
    for text in ["4111 1111 1111 1111", "card 4111-1111-1111-1111 ok", "378282246310005", "x6011111111111117y"] {
      #expect(CardNumbers.contains(text) && CardNumbers.mayContain(text))
    }
    #expect(!CardNumbers.mayContain("acct_123456789012") && !CardNumbers.mayContain("Suite 400, 02134"))
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<5000 {
      let text = String((0..<Int.random(in: 0..<40, using: &rng)).map { _ in "0123456789 -a".randomElement(using: &rng)! })
      if CardNumbers.contains(text) { #expect(CardNumbers.mayContain(text), "\(text)") }
    }
  }
}

@Suite("Proration")
struct ProrationRulesTests {
  @Test("a change between two chargeable plans credits the old plan's unused days and charges the new plan's, rounded to the minor unit")
  func lines() {
    let terms = BillingTerms()
    let lines = BillingRules.prorationLines(
      from: .professional, to: .freemium, daysLeft: 10, periodDays: 31, activeClients: 5, electronicClaims: 0, terms: terms)
    let credit: Int64 = -(5900 * 10 + 15) / 31
    let charge: Int64 = (1900 * 10 + 15) / 31
    #expect(lines.map(\.amountMinor) == [credit, charge])
    // FREEMIUM under its limits is not chargeable: it counts 0 either way.
    let free = BillingRules.prorationLines(
      from: .freemium, to: .professional, daysLeft: 20, periodDays: 30, activeClients: 0, electronicClaims: 0, terms: terms)
    #expect(free.map(\.amountMinor) == [0, 3933])
    let start: Int64 = 1_893_456_000_000
    #expect(BillingRules.days(from: start, to: start + 3 * 86_400_000, timeZone: "UTC") == 3)
  }
}
