import PracticeFuzz

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelope(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
  FuzzEntries.envelope(Array(UnsafeRawBufferPointer(start: start, count: count)))
  return 0
}
