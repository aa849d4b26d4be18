import Foundation
import PracticeFuzz

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
  FuzzEntries.frames(Array(UnsafeRawBufferPointer(start: start, count: count)))
  return 0
}

// SwiftPM keeps this target's own entry point, so it hands control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
  _ callback: @convention(c) (UnsafeRawPointer?, Int) -> CInt
) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { start, count in
  guard let start else { return 0 }
  return fuzzFrames(start, count)
}
exit(status)
