import Foundation
import PracticeProto
import PracticeCore

/// One CMS Place of Service code.
public struct PosCode: Sendable, Hashable {
  public let code: String
  public let name: String
  public let description: String
  /// False: the code is unassigned.
  public let active: Bool
  /// `YYYY-MM-DD`; empty: in effect always.
  public let effectiveFrom: String
  public let effectiveNote: String

  /// Whether the code is in effect on a calendar date (`YYYY-MM-DD`).
  public func inEffect(on date: String) -> Bool { active && (effectiveFrom.isEmpty || effectiveFrom <= date) }

  public var proto: Practice_V1_PlaceOfServiceCode {
    var p = Practice_V1_PlaceOfServiceCode()
    p.code = code
    p.name = name
    p.description_p = description
    p.active = active
    p.effectiveFrom = effectiveFrom
    p.effectiveNote = effectiveNote
    return p
  }
}

/// The CMS Place of Service code set (compiled from data/pos-codes.tsv) and the rules on its use.
public enum PlaceOfService {
  public static let telehealthNotHome = "02"
  public static let telehealthHome = "10"

  private static let byCode: [String: PosCode] = Dictionary(uniqueKeysWithValues: all.map { ($0.code, $0) })

  public static func code(_ code: String) -> PosCode? { byCode[code] }

  /// A code that may be used: two digits ("02", never "2") and assigned. Returns a violation text.
  public static func problem(with code: String) -> String? {
    guard code.utf8.count == 2, code.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
      return "must be a two-digit CMS Place of Service code such as \"11\""
    }
    guard let c = byCode[code] else { return "is not a CMS Place of Service code" }
    guard c.active else { return "\(code) is an unassigned Place of Service code" }
    return nil
  }

  /// A calendar date `YYYY-MM-DD` that exists.
  public static func isValidDate(_ s: String) -> Bool {
    let parts = s.split(separator: "-", omittingEmptySubsequences: false)
    guard s.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
      let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m), d >= 1
    else { return false }
    let days = [31, (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return d <= days[m - 1]
  }

  /// Which code to bill (PRODUCT.md, "ResolvePlaceOfService"): for a telehealth location, the payer's
  /// rule if one exists, else 10 at home and 02 otherwise; for any other location, its own code. The
  /// code must be in effect on the date of service (`POS_NOT_EFFECTIVE`, no fallback).
  public static func resolve(
    location: Practice_V1_Location, payerRule: Practice_V1_PayerPosRule?, patientAtHome: Bool, dateOfService: String
  ) throws(DomainError) -> (code: PosCode, decidedBy: Practice_V1_PosDecision) {
    try checkDate(dateOfService)
    let decision = try decide(location: location, payerRule: payerRule, patientAtHome: patientAtHome)
    if let problem = notInEffect(decision.code, on: dateOfService) {
      throw DomainError.precondition(.posNotEffective, problem)
    }
    return decision
  }

  /// The date of service: an existing `YYYY-MM-DD`.
  public static func checkDate(_ dateOfService: String) throws(DomainError) {
    guard isValidDate(dateOfService) else {
      throw DomainError.invalid(field: "date_of_service", "must be a date YYYY-MM-DD")
    }
  }

  /// The code the rules choose, whatever the date (the claim profile reports a code not in effect as
  /// one of its problems, `resolve` refuses it).
  public static func decide(
    location: Practice_V1_Location, payerRule: Practice_V1_PayerPosRule?, patientAtHome: Bool
  ) throws(DomainError) -> (code: PosCode, decidedBy: Practice_V1_PosDecision) {
    let chosen: String
    let decidedBy: Practice_V1_PosDecision
    if location.telehealth {
      if let rule = payerRule {
        chosen = patientAtHome ? rule.homePosCode : rule.notHomePosCode
        decidedBy = .payerRule
      } else {
        chosen = patientAtHome ? telehealthHome : telehealthNotHome
        decidedBy = .telehealthDefault
      }
    } else {
      chosen = location.posCode
      decidedBy = .locationCode
    }
    guard let code = byCode[chosen] else { throw DomainError.inconsistent("stored POS code \(chosen) is unknown") }
    return (code, decidedBy)
  }

  /// Why a code can't be billed on a date, or nil when it is in effect.
  public static func notInEffect(_ code: PosCode, on dateOfService: String) -> String? {
    code.inEffect(on: dateOfService)
      ? nil : "POS \(code.code) is not in effect on \(dateOfService) (effective \(code.effectiveFrom))"
  }
}

/// Service location rules.
public enum LocationRules {
  public static let maskFields: Set<String> = {
    var s: Set<String> = ["name", "address", "telehealth", "pos_code", "is_default"]
    for p in ["line1", "line2", "city", "state", "zip"] { s.insert("address.\(p)") }
    return s
  }()

  /// Validates a location as it would be stored (normalizing its ZIP). `prefix` is "location.".
  public static func validate(_ l: inout Practice_V1_Location, prefix: String = "location.") throws(DomainError) {
    var v = Violations()
    if let p = TextRules.checkName(l.name) { v.add(prefix + "name", p) }
    if case .address(var a)? = l.addressPresence {
      BusinessRules.validateAddress(&a, field: prefix + "address", into: &v, physical: false)
      l.address = a
    } else if !l.telehealth {
      v.add(prefix + "address", "is required for a location that is not telehealth")
    }
    if l.posCode.isEmpty && l.telehealth {
      l.posCode = PlaceOfService.telehealthNotHome
    }
    if let p = PlaceOfService.problem(with: l.posCode) {
      v.add(prefix + "pos_code", p)
    } else if !l.telehealth && (l.posCode == PlaceOfService.telehealthNotHome || l.posCode == PlaceOfService.telehealthHome) {
      v.add(prefix + "pos_code", "\(l.posCode) is for telehealth locations only")
    }
    try v.check()
  }

  /// Applies an UpdateLocation request's masked fields.
  public static func apply(_ current: Practice_V1_Location, mask: UpdateMask, _ new: Practice_V1_Location) -> Practice_V1_Location {
    var l = current
    if mask.covers("name") { l.name = new.name }
    if mask.covers("telehealth") { l.telehealth = new.telehealth }
    if mask.covers("pos_code") { l.posCode = new.posCode }
    if mask.covers("is_default") { l.isDefault = new.isDefault }
    if mask.paths.contains("address") {
      l.addressPresence = new.addressPresence
    } else if mask.touches("address") {
      var a = l.address
      if mask.covers("address.line1") { a.line1 = new.address.line1 }
      if mask.covers("address.line2") { a.line2 = new.address.line2 }
      if mask.covers("address.city") { a.city = new.address.city }
      if mask.covers("address.state") { a.state = new.address.state }
      if mask.covers("address.zip") { a.zip = new.address.zip }
      l.address = a
    }
    return l
  }

  /// A payer rule: an id and a name chosen by the caller, and two assigned POS codes.
  public static func validatePayerRule(_ r: Practice_V1_PayerPosRule) throws(DomainError) {
    var v = Violations()
    if r.payerID.isEmpty || r.payerID.utf8.count > 64 {
      v.add("rule.payer_id", "is required (at most 64 bytes)")
    }
    if let p = TextRules.checkName(r.payerName) { v.add("rule.payer_name", p) }
    if let p = PlaceOfService.problem(with: r.homePosCode) { v.add("rule.home_pos_code", p) }
    if let p = PlaceOfService.problem(with: r.notHomePosCode) { v.add("rule.not_home_pos_code", p) }
    try v.check()
  }
}
