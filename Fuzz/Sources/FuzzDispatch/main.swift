
import Foundation
import PracticeFuzz

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDispatch(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
  let data = Array(UnsafeRawBufferPointer(start: start, count: count))
  let done = DispatchSemaphore(value: 0)
  Task {
    await FuzzEntries.dispatch(data)
    done.signal()
  }
  done.wait()
  return 0
}

// SwiftPM keeps this target's own entry point, so it hands control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
  _ callback: @convention(c) (UnsafeRawPointer?, Int) -> CInt
) -> CInt

let prepared = DispatchSemaphore(value: 0)
Task.detached {
  await FuzzEntries.prepareDispatch()
  prepared.signal()
}
prepared.wait()

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { start, count in
  guard let start else { return 0 }
  return fuzzDispatch(start, count)
}
exit(status)
