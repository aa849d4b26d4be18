import PracticeCore
import PracticeDomain
import PracticeProto
import Testing

@Suite("Text rules")
struct TextRulesTests {
  @Test("valid emails", arguments: ["a@b.co", "dana.lee+billing@harbor-therapy.example", "x_y@sub.domain.org"])
  func validEmail(_ e: String) { #expect(TextRules.isValidEmail(e)) }

  @Test("invalid emails", arguments: ["", "plain", "@b.co", "a@", "a@b", "a b@c.co", "a@@b.co", "a@b..co", ".a@b.co",
                                      "a@-b.co", "a@b.c0", "ä@b.co", "a@b.co\n"])
  func invalidEmail(_ e: String) { #expect(!TextRules.isValidEmail(e)) }

  @Test("names: blank, too long; control and SQL-significant characters kept verbatim")
  func names() {
    #expect(TextRules.checkName("Harbor Therapy") == nil)
    #expect(TextRules.checkName("   ") == "is required")
    #expect(TextRules.checkName(String(repeating: "x", count: 201)) != nil)
    #expect(TextRules.checkName("a\u{7}b\n\u{1b}[31m") == nil)
    #expect(TextRules.checkName("\n\t ") == "is required")
    #expect(TextRules.checkName("O'Brien; DROP TABLE users; --") == nil)
    // The limit counts characters, not bytes: 200 two-byte or emoji characters pass, 201 do not.
    #expect(TextRules.checkName(String(repeating: "é", count: 200)) == nil)
    #expect(TextRules.checkName(String(repeating: "🏥", count: 200)) == nil)
    #expect(TextRules.checkName(String(repeating: "é", count: 201)) != nil)
    #expect(TextRules.checkName(String(repeating: "x", count: 200)) == nil)
    // Blank is blank whatever the whitespace; a name may start with a space or a non-ASCII letter.
    #expect(TextRules.checkName("\u{3000}\u{A0}\u{2028}") == "is required")
    #expect(TextRules.checkName(" Harbor") == nil)
    #expect(TextRules.checkName("Ébène") == nil)
    #expect(TextRules.checkName("", required: false) == nil)
  }

  @Test("time zones")
  func zones() {
    #expect(TextRules.isKnownTimeZone("America/New_York"))
    #expect(TextRules.isKnownTimeZone("UTC"))
    #expect(!TextRules.isKnownTimeZone("Mars/Olympus"))
    #expect(!TextRules.isKnownTimeZone(""))
  }
}

@Suite("Paging")
struct PagingTests {
  @Test("defaults, maximum, negative")
  func sizes() throws {
    #expect(try PageRequest(size: 0, token: "", scope: "s").size == 50)
    #expect(try PageRequest(size: 10, token: "", scope: "s").size == 10)
    #expect(try PageRequest(size: 10_000, token: "", scope: "s").size == 500)
    #expect(throws: DomainError.self) { try PageRequest(size: -1, token: "", scope: "s") }
  }

  @Test("tokens round-trip and are bound to their list")
  func tokens() throws {
    let page = try PageRequest(size: 2, token: "", scope: "users:a")
    let (items, next) = page.page(["u1", "u2", "u3"], key: { $0 }, scope: "users:a")
    #expect(items == ["u1", "u2"])
    let again = try PageRequest(size: 2, token: next, scope: "users:a")
    #expect(again.after == "u2")
    #expect(throws: DomainError.self) { try PageRequest(size: 2, token: next, scope: "users:b") }
    #expect(throws: DomainError.self) { try PageRequest(size: 2, token: "!!not a token", scope: "users:a") }
    #expect(page.page(["u1"], key: { $0 }, scope: "users:a").next == "")
  }
}

@Suite("Update masks")
struct UpdateMaskTests {
  @Test("empty and unknown masks are refused")
  func refused() {
    #expect(throws: DomainError.self) { try UpdateMask([], allowed: ["name"]) }
    do {
      _ = try UpdateMask(["name", "version"], allowed: ["name"])
      Issue.record("expected an error")
    } catch {
      #expect(error.rpcError.code == .invalidArgument)
      #expect(error.violations.map(\.field) == ["update_mask"])
    }
  }

  @Test("a parent covers its nested fields")
  func covers() throws {
    let m = try UpdateMask(["address"], allowed: ["address", "address.city"])
    #expect(m.covers("address.city"))
    #expect(!m.covers("name"))
  }

  @Test("touches: the field, a parent of it or a path under it; not a longer name that starts the same")
  func touches() throws {
    let allowed: Set<String> = ["address", "address.city", "address_note", "pay_to_address.zip", "name"]
    #expect(try UpdateMask(["address"], allowed: allowed).touches("address"))
    #expect(try UpdateMask(["address.city"], allowed: allowed).touches("address"))
    #expect(try !UpdateMask(["address_note"], allowed: allowed).touches("address"))
    #expect(try !UpdateMask(["pay_to_address.zip"], allowed: allowed).touches("address"))
    #expect(try !UpdateMask(["name"], allowed: allowed).touches("address"))
    #expect(try UpdateMask(["address"], allowed: allowed).touches("address.city"))
    #expect(try !UpdateMask(["address.city"], allowed: allowed).touches("address_note"))
    #expect(try UpdateMask(["pay_to_address.zip"], allowed: allowed).touches("pay_to_address"))
  }
}

@Suite("Account and user rules")
struct AccountRulesTests {
  @Test("CreateAccount reports every bad field at once")
  func createViolations() {
    var r = Practice_V1_CreateAccountRequest()
    r.practiceName = ""
    r.ownerName = " "
    r.ownerEmail = "nope"
    r.settings.timeZone = "Nowhere/Land"
    do {
      _ = try AccountRules.validateCreate(r)
      Issue.record("expected an error")
    } catch {
      #expect(error.rpcError.reason == .validationFailed)
      #expect(Set(error.violations.map(\.field)) == ["practice_name", "owner_name", "owner_email", "settings.time_zone"])
    }
  }

  @Test("new accounts default to UTC and WARN")
  func defaults() throws {
    var r = Practice_V1_CreateAccountRequest()
    r.practiceName = "Harbor"
    r.ownerName = "Dana"
    let s = try AccountRules.validateCreate(r)
    #expect(s.timeZone == "UTC")
    #expect(s.roomConflictPolicy == .warn)
    #expect(AccountRules.ownerRoles([.practitioner]) == [.owner, .practitioner])
  }

  @Test("OWNER is neither granted nor removed by a roles update: both are OWNER_RULE; the owner's other roles change")
  func ownerRole() throws {
    #expect(!validateAssignableRoles([.owner], field: "roles").isEmpty)
    #expect(!validateAssignableRoles([], field: "roles").isEmpty)
    #expect(validateAssignableRoles([.biller, .scheduler], field: "roles").isEmpty)
    let mask = try UpdateMask(["roles"], allowed: AccountRules.userMaskFields)
    var owner = Practice_V1_User()
    owner.roles = [.owner, .practitioner]
    var change = Practice_V1_User()
    change.roles = [.biller]
    #expect(throws: DomainError.precondition(.ownerRule, "the owner keeps OWNER; TransferOwnership moves it")) {
      try AccountRules.applyUserUpdate(owner, mask: mask, change)
    }
    change.roles = [.owner, .biller]
    #expect(try AccountRules.applyUserUpdate(owner, mask: mask, change).roles == [.owner, .biller])
    change.roles = [.owner]
    #expect(try AccountRules.applyUserUpdate(owner, mask: mask, change).roles == [.owner])
    var biller = Practice_V1_User()
    biller.roles = [.biller]
    change.roles = [.owner, .biller]
    #expect(throws: DomainError.precondition(.ownerRule, "OWNER is set only by CreateAccount and TransferOwnership")) {
      try AccountRules.applyUserUpdate(biller, mask: mask, change)
    }
  }
}

@Suite("Access policy")
struct AccessPolicyTests {
  @Test("every declared practice method has a row in the role matrix")
  func complete() {
    for m in MethodCatalog.all {
      #expect(AccessPolicy.table[m.path] != nil, "\(m.path) has no requirement")
    }
  }

  @Test("requirements and roles")
  func matrix() {
    let admin = RoleSet([.administrator]), owner = RoleSet([.owner]), biller = RoleSet([.biller])
    let practitioner = RoleSet([.practitioner]), supervisor = RoleSet([.supervisor]), scheduler = RoleSet([.scheduler])
    #expect(Requirement.administrator.allows(owner) && Requirement.administrator.allows(admin))
    #expect(!Requirement.administrator.allows(supervisor))
    #expect(Requirement.biller.allows(biller) && !Requirement.biller.allows(practitioner))
    #expect(Requirement.owner.allows(owner) && !Requirement.owner.allows(admin))
    #expect(!Requirement.operatorOnly.allows(owner))
    #expect(practitioner.mayBook(for: "u1", selfUserID: "u1"))
    #expect(!practitioner.mayBook(for: "u2", selfUserID: "u1"))
    #expect(scheduler.mayBook(for: "u2", selfUserID: "u1"))
    #expect(!supervisor.mayBook(for: "u1", selfUserID: "u1"))
  }
}

@Suite("Domain errors to statuses")
struct DomainErrorTests {
  @Test("each domain refusal becomes its documented status, in one place")
  func mapping() {
    let invalid = DomainError.invalid(field: "owner_email", "must be an email address").rpcError
    #expect(invalid.code == .invalidArgument && invalid.reason == .validationFailed)
    #expect(invalid.violations.map(\.field) == ["owner_email"])
    let precondition = DomainError.precondition(.posNotEffective, "not yet").rpcError
    #expect(precondition.code == .failedPrecondition && precondition.reason == .posNotEffective)
    #expect(precondition.message == "not yet")
    #expect(DomainError.inconsistent("unknown stored code").rpcError.code == .internal)
  }
}
