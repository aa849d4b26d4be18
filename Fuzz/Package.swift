// swift-tools-version:6.1
// libFuzzer targets for practiced, built only by scripts/fuzz with -sanitize=fuzzer,address
// (as swift-protobuf's FuzzTesting/ does). Their inputs go through PracticeFuzz, whose entry points
// the normal test suite replays over Fuzz/FailCases.
import Foundation
import PackageDescription

// A path dependency is known by its folder's name: the checkout's, whatever it is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
  name: "PracticeFuzzTargets",
  platforms: [.macOS(.v15)],
  dependencies: [.package(path: "..")],
  targets: [
    .executableTarget(name: "FuzzFrames", dependencies: [.product(name: "PracticeFuzz", package: root)]),
    .executableTarget(name: "FuzzEnvelope", dependencies: [.product(name: "PracticeFuzz", package: root)]),
    .executableTarget(name: "FuzzDispatch", dependencies: [.product(name: "PracticeFuzz", package: root)]),
  ],
  swiftLanguageModes: [.v6]
)
