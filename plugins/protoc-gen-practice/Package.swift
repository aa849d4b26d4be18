// swift-tools-version:6.1
// protoc-gen-practice: the protoc plugin that writes practiced's method catalog and typed clients
// from the services in proto/ (scripts/gen-proto runs it; its output is committed, so the build of
// practiced never needs protoc or this plugin). A package of its own: swift-protobuf's plugin
// library is compiled only when the code is regenerated.
import PackageDescription

let package = Package(
  name: "protoc-gen-practice",
  dependencies: [
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0", traits: [])
  ],
  targets: [
    .executableTarget(
      name: "protoc-gen-practice",
      dependencies: [.product(name: "SwiftProtobufPluginLibrary", package: "swift-protobuf")]
    )
  ],
  swiftLanguageModes: [.v6]
)
