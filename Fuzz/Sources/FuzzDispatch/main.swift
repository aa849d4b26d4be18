import Dispatch
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
