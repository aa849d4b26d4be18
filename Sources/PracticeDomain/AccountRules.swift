import PracticeProto
import PracticeCore

/// Rules for accounts, their settings and their users (PRODUCT.md, "Users and roles").
public enum AccountRules {
  public static let defaultTimeZone = "UTC"

  /// The settings of a new account: given values over the defaults (UTC, WARN).
  public static func initialSettings(_ given: Practice_V1_AccountSettings?) -> Practice_V1_AccountSettings {
    var s = Practice_V1_AccountSettings()
    s.timeZone = defaultTimeZone
    s.roomConflictPolicy = .warn
    if let given {
      if !given.timeZone.isEmpty { s.timeZone = given.timeZone }
      if given.roomConflictPolicy != .unspecified { s.roomConflictPolicy = given.roomConflictPolicy }
    }
    return s
  }

  public static func validateSettings(_ s: Practice_V1_AccountSettings, prefix: String, into v: inout Violations) {
    if !TextRules.isKnownTimeZone(s.timeZone) {
      v.add(prefix + "time_zone", "must be an IANA time zone name such as America/New_York")
    }
    switch s.roomConflictPolicy {
    case .warn, .block: break
    default: v.add(prefix + "room_conflict_policy", "must be WARN or BLOCK")
    }
  }

  /// Validates a CreateAccount request; returns the new account's settings.
  public static func validateCreate(_ r: Practice_V1_CreateAccountRequest) throws(DomainError) -> Practice_V1_AccountSettings {
    var v = Violations()
    if let p = TextRules.checkName(r.practiceName) { v.add("practice_name", p) }
    if let p = TextRules.checkName(r.ownerName) { v.add("owner_name", p) }
    if !r.ownerEmail.isEmpty && !TextRules.isValidEmail(r.ownerEmail) {
      v.add("owner_email", "is not a valid email address")
    }
    for role in r.ownerRoles where role == .unspecified || (Practice_V1_Role(rawValue: role.rawValue) == nil) {
      v.add("owner_roles", "unknown role")
    }
    let settings = initialSettings(r.hasSettings ? r.settings : nil)
    validateSettings(settings, prefix: "settings.", into: &v)
    try v.check()
    return settings
  }

  /// The owner's roles: OWNER plus the extra ones given.
  public static func ownerRoles(_ extra: [Practice_V1_Role]) -> [Practice_V1_Role] {
    RoleSet(extra + [.owner]).sorted
  }

  public static let settingsMaskFields: Set<String> = ["time_zone", "room_conflict_policy"]

  /// Applies an UpdateAccountSettings request to the current settings and validates the result.
  public static func applySettings(
    _ current: Practice_V1_AccountSettings, mask: UpdateMask, _ new: Practice_V1_AccountSettings
  ) throws(DomainError) -> Practice_V1_AccountSettings {
    var s = current
    if mask.covers("time_zone") { s.timeZone = new.timeZone }
    if mask.covers("room_conflict_policy") { s.roomConflictPolicy = new.roomConflictPolicy }
    var v = Violations()
    validateSettings(s, prefix: "settings.", into: &v)
    try v.check()
    return s
  }

  /// Validates a new user's fields (AddUser).
  public static func validateNewUser(_ r: Practice_V1_AddUserRequest) throws(DomainError) {
    var v = Violations()
    if let p = TextRules.checkName(r.name) { v.add("name", p) }
    if !r.email.isEmpty && !TextRules.isValidEmail(r.email) { v.add("email", "is not a valid email address") }
    v.add(validateAssignableRoles(r.roles, field: "roles"))
    validateIndividualIDs(npi: r.npi, taxonomyCode: r.taxonomyCode, prefix: "", into: &v)
    try v.check()
  }

  /// A user's individual NPI (always TYPE_1, so the digits are all there is to check) and taxonomy
  /// code, each optional, validated as the business's.
  static func validateIndividualIDs(npi: String, taxonomyCode: String, prefix: String, into v: inout Violations) {
    if !npi.isEmpty && !Identifiers.isValidNPI(npi) {
      v.add(prefix + "npi", "must be 10 digits starting with 1 or 2 with a valid check digit")
    }
    if !taxonomyCode.isEmpty && !Identifiers.isValidTaxonomy(taxonomyCode) {
      v.add(prefix + "taxonomy_code", "must be 10 characters: 3 digits, 6 digits or capitals, then X")
    }
  }

  public static let userMaskFields: Set<String> = ["name", "email", "roles", "npi", "taxonomy_code"]

  /// Applies an UpdateUser request. OWNER can be neither granted nor removed here: a change of roles
  /// that would do either is refused (`OWNER_RULE`), never silently ignored.
  public static func applyUserUpdate(
    _ current: Practice_V1_User, mask: UpdateMask, _ new: Practice_V1_User
  ) throws(DomainError) -> Practice_V1_User {
    var u = current
    var v = Violations()
    if mask.covers("name") {
      if let p = TextRules.checkName(new.name) { v.add("user.name", p) }
      u.name = new.name
    }
    if mask.covers("email") {
      if !new.email.isEmpty && !TextRules.isValidEmail(new.email) { v.add("user.email", "is not a valid email address") }
      u.email = new.email
    }
    if mask.covers("roles") {
      let isOwner = current.roleSet.isOwner
      if new.roles.contains(.owner) != isOwner {
        throw DomainError.precondition(
          .ownerRule,
          isOwner
            ? "the owner keeps OWNER; TransferOwnership moves it" : "OWNER is set only by CreateAccount and TransferOwnership")
      }
      // The owner may hold OWNER alone; anyone else needs a role.
      let others = new.roles.filter { $0 != .owner }
      if !(isOwner && others.isEmpty) { v.add(validateAssignableRoles(others, field: "user.roles")) }
      u.roles = isOwner ? ownerRoles(new.roles) : RoleSet(new.roles).sorted
    }
    if mask.covers("npi") { u.npi = new.npi }
    if mask.covers("taxonomy_code") { u.taxonomyCode = new.taxonomyCode }
    validateIndividualIDs(npi: mask.covers("npi") ? u.npi : "", taxonomyCode: mask.covers("taxonomy_code") ? u.taxonomyCode : "",
                          prefix: "user.", into: &v)
    try v.check()
    return u
  }

  /// Whether an account counts as active for a given number of active practitioners, etc. lives with
  /// the rules that need it (rooms, plans).
  public static func activePractitioners(_ users: [Practice_V1_User]) -> Int {
    users.filter { $0.active && $0.roleSet.contains(.practitioner) }.count
  }
}
