import Foundation
import PracticeProto
import PracticeCore

/// Room and booking rules (PRODUCT.md, "Rooms").
public enum RoomRules {
  /// A booking lasts more than 0 and at most 24 hours.
  public static let maxBookingMs: Int64 = 24 * 60 * 60 * 1000
  public static let maxOccurrences = 104
  public static let maxIntervalWeeks = 4

  public static let maskFields: Set<String> = ["name", "location_ids"]

  public static func validateRoom(_ r: Practice_V1_Room, prefix: String = "room.") throws(DomainError) {
    var v = Violations()
    if let p = TextRules.checkName(r.name) { v.add(prefix + "name", p) }
    if r.locationIds.isEmpty { v.add(prefix + "location_ids", "at least one location is required") }
    if Set(r.locationIds).count != r.locationIds.count { v.add(prefix + "location_ids", "must not repeat a location") }
    try v.check()
  }

  /// Checks a booking's interval and recurrence; returns the occurrences as [start, end) intervals.
  /// A series repeats the same local wall-clock times every `weekly.intervalWeeks` weeks; each of its
  /// occurrences must last at most 24 hours, which a daylight-saving change can break for one of them.
  public static func occurrences(
    startMs: Int64, endMs: Int64, weekly: Practice_V1_WeeklyRecurrence?, timeZone: String
  ) throws(DomainError) -> [(start: Int64, end: Int64)] {
    var v = Violations()
    if startMs <= 0 { v.add("start_ms", "is required (Unix milliseconds)") }
    if endMs <= startMs {
      v.add("end_ms", "must be after start_ms")
    } else if endMs - startMs > maxBookingMs {
      v.add("end_ms", "a booking lasts at most 24 hours")
    }
    if let weekly, !(1...Int32(maxOccurrences)).contains(weekly.occurrences) {
      v.add("weekly.occurrences", "must be 1 to \(maxOccurrences)")
    }
    if let weekly, !(0...Int32(maxIntervalWeeks)).contains(weekly.intervalWeeks) {
      v.add("weekly.interval_weeks", "must be 1 to \(maxIntervalWeeks)")
    }
    try v.check()
    let count = Int(weekly?.occurrences ?? 1)
    let interval = max(1, Int(weekly?.intervalWeeks ?? 1))
    guard count > 1 else { return [(startMs, endMs)] }
    guard let zone = TimeZone(identifier: timeZone) else { throw DomainError.inconsistent("unknown account time zone") }
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = zone
    let start = Date(timeIntervalSince1970: Double(startMs) / 1000)
    let end = Date(timeIntervalSince1970: Double(endMs) / 1000)
    let wanted: Set<Calendar.Component> = [.year, .month, .day, .hour, .minute, .second, .nanosecond]
    let startLocal = calendar.dateComponents(wanted, from: start)
    let endLocal = calendar.dateComponents(wanted, from: end)
    var out: [(Int64, Int64)] = []
    for n in 0..<count {
      // The same local wall-clock times, 7 * interval * n calendar days later.
      let days = 7 * interval * n
      guard let s = shifted(startLocal, days: days, calendar), let e = shifted(endLocal, days: days, calendar)
      else { throw DomainError.inconsistent("cannot compute occurrence \(n + 1)") }
      if e <= s || e - s > maxBookingMs {
        v.add("end_ms", "occurrence \(n + 1) would last \(e <= s ? "no time" : "more than 24 hours") across a daylight-saving change")
      }
      out.append((s, e))
    }
    try v.check()
    return out
  }

  /// Where bookings go when the first of them moves to [newStart, newEnd): each keeps its distance in
  /// local calendar days from the first, at the new local wall-clock times, and each is checked for the
  /// 24-hour limit. `bookings` are in occurrence order, the moved one first.
  public static func moved(
    _ bookings: [(start: Int64, end: Int64)], newStartMs: Int64, newEndMs: Int64, timeZone: String
  ) throws(DomainError) -> [(start: Int64, end: Int64)] {
    var v = Violations()
    if newStartMs <= 0 { v.add("start_ms", "is required (Unix milliseconds)") }
    if newEndMs <= newStartMs {
      v.add("end_ms", "must be after start_ms")
    } else if newEndMs - newStartMs > maxBookingMs {
      v.add("end_ms", "a booking lasts at most 24 hours")
    }
    try v.check()
    guard let first = bookings.first, bookings.count > 1 else { return [(newStartMs, newEndMs)] }
    guard let zone = TimeZone(identifier: timeZone) else { throw DomainError.inconsistent("unknown account time zone") }
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = zone
    func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
    let wanted: Set<Calendar.Component> = [.year, .month, .day, .hour, .minute, .second, .nanosecond]
    let startLocal = calendar.dateComponents(wanted, from: date(newStartMs))
    let endLocal = calendar.dateComponents(wanted, from: date(newEndMs))
    let firstDay = calendar.startOfDay(for: date(first.start))
    var out: [(Int64, Int64)] = []
    for (n, b) in bookings.enumerated() {
      guard let days = calendar.dateComponents([.day], from: firstDay, to: calendar.startOfDay(for: date(b.start))).day,
        let s = shifted(startLocal, days: days, calendar), let e = shifted(endLocal, days: days, calendar)
      else { throw DomainError.inconsistent("cannot compute occurrence \(n + 1)") }
      if e <= s || e - s > maxBookingMs {
        v.add("end_ms", "occurrence \(n + 1) would last \(e <= s ? "no time" : "more than 24 hours") across a daylight-saving change")
      }
      out.append((s, e))
    }
    try v.check()
    return out
  }

  private static func shifted(_ c: DateComponents, days: Int, _ calendar: Calendar) -> Int64? {
    var c = c
    c.day = (c.day ?? 1) + days
    guard let date = calendar.date(from: c) else { return nil }
    return Int64((date.timeIntervalSince1970 * 1000).rounded())
  }

  /// Whether two [start, end) intervals overlap (back to back is no overlap).
  public static func overlaps(_ a: (start: Int64, end: Int64), _ b: (start: Int64, end: Int64)) -> Bool {
    a.start < b.end && b.start < a.end
  }
}
