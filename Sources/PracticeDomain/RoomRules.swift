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
  /// A series repeats the same local wall-clock times every `weekly.intervalWeeks` weeks.
  public static func occurrences(
    startMs: Int64, endMs: Int64, weekly: Practice_V1_WeeklyRecurrence?, timeZone: String
  ) throws(DomainError) -> [(start: Int64, end: Int64)] {
    var v = Violations()
    if let weekly, !(1...Int32(maxOccurrences)).contains(weekly.occurrences) {
      v.add("weekly.occurrences", "must be 1 to \(maxOccurrences)")
    }
    if let weekly, !(0...Int32(maxIntervalWeeks)).contains(weekly.intervalWeeks) {
      v.add("weekly.interval_weeks", "must be 1 to \(maxIntervalWeeks)")
    }
    let interval = max(1, Int(weekly?.intervalWeeks ?? 1))
    let offsets = (0..<Int(max(1, weekly?.occurrences ?? 1))).map { 7 * interval * $0 }
    return try placed(startMs: startMs, endMs: endMs, dayOffsets: offsets, timeZone: timeZone, checked: v)
  }

  /// Where bookings go when the first of them moves to [newStart, newEnd): each keeps its distance in
  /// local calendar days from the first. `bookings` are in occurrence order, the moved one first.
  public static func moved(
    _ bookings: [(start: Int64, end: Int64)], newStartMs: Int64, newEndMs: Int64, timeZone: String
  ) throws(DomainError) -> [(start: Int64, end: Int64)] {
    guard let first = bookings.first, bookings.count > 1 else {
      return try placed(startMs: newStartMs, endMs: newEndMs, dayOffsets: [0], timeZone: timeZone, checked: Violations())
    }
    let calendar = try calendar(timeZone)
    let firstDay = calendar.startOfDay(for: date(first.start))
    var offsets: [Int] = []
    for b in bookings {
      guard let days = calendar.dateComponents([.day], from: firstDay, to: calendar.startOfDay(for: date(b.start))).day
      else { throw DomainError.inconsistent("cannot place occurrence \(offsets.count + 1)") }
      offsets.append(days)
    }
    return try placed(startMs: newStartMs, endMs: newEndMs, dayOffsets: offsets, timeZone: timeZone, checked: Violations())
  }

  /// The interval [startMs, endMs) checked (more than 0 and at most 24 hours), then placed at the same
  /// local wall-clock times each `dayOffsets` calendar days later; each placement is checked for the
  /// 24-hour limit too, which a daylight-saving change can break for one of them. `checked` holds the
  /// caller's own violations, reported with these.
  private static func placed(
    startMs: Int64, endMs: Int64, dayOffsets: [Int], timeZone: String, checked: Violations
  ) throws(DomainError) -> [(start: Int64, end: Int64)] {
    var v = checked
    if startMs <= 0 { v.add("start_ms", "is required (Unix milliseconds)") }
    if endMs <= startMs {
      v.add("end_ms", "must be after start_ms")
    } else if endMs - startMs > maxBookingMs {
      v.add("end_ms", "a booking lasts at most 24 hours")
    }
    try v.check()
    guard dayOffsets != [0] else { return [(startMs, endMs)] }
    let calendar = try calendar(timeZone)
    let wanted: Set<Calendar.Component> = [.year, .month, .day, .hour, .minute, .second, .nanosecond]
    let startLocal = calendar.dateComponents(wanted, from: date(startMs))
    let endLocal = calendar.dateComponents(wanted, from: date(endMs))
    var out: [(Int64, Int64)] = []
    for (n, days) in dayOffsets.enumerated() {
      guard let s = shifted(startLocal, days: days, calendar), let e = shifted(endLocal, days: days, calendar)
      else { throw DomainError.inconsistent("cannot place occurrence \(n + 1)") }
      if e <= s || e - s > maxBookingMs {
        v.add("end_ms", "occurrence \(n + 1) would last \(e <= s ? "no time" : "more than 24 hours") across a daylight-saving change")
      }
      out.append((s, e))
    }
    try v.check()
    return out
  }

  private static func calendar(_ timeZone: String) throws(DomainError) -> Calendar {
    guard let zone = TimeZone(identifier: timeZone) else { throw DomainError.inconsistent("unknown account time zone") }
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = zone
    return calendar
  }

  private static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }

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
