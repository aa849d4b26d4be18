// Everything a caller of the client needs comes with `import PracticeClient`: the messages
// (PracticeProto) and the statuses, reasons and errors calls throw (PracticeCore).
@_exported import PracticeCore
@_exported import PracticeProto
