// swift-tools-version:6.1
// libFuzzer targets for practiced, built only by scripts/fuzz with -sanitize=fuzzer,address
// (as swift-protobuf's FuzzTesting/ does). Their inputs go through PracticeFuzz, whose entry points
// the normal test suite replays over Fuzz/FailCases.
import PackageDescription

let package = Package(
  name: "PracticeFuzzTargets",
  platforms: [.macOS(.v15)],
  dependencies: [.package(path: "..")],
  targets: [
    .executableTarget(name: "FuzzFrames", dependencies: [.product(name: "PracticeFuzz", package: "main")]),
    .executableTarget(name: "FuzzEnvelope", dependencies: [.product(name: "PracticeFuzz", package: "main")]),
    .executableTarget(name: "FuzzDispatch", dependencies: [.product(name: "PracticeFuzz", package: "main")]),
  ]
)
