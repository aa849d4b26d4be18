import PracticeDomain
import PracticeProto
import SwiftProtobuf

/// Secrets never leave the daemon in full through audit events or logs: the tax id is masked to its
/// last 4 digits, the payment processor's token is dropped.
enum Secrets {
  /// A copy of `message` with every secret masked.
  static func redacted(_ message: any SwiftProtobuf.Message) -> any SwiftProtobuf.Message {
    switch message {
    case var b as Practice_V1_BusinessInfo:
      if !b.taxID.isEmpty && !b.taxIDMasked {
        b.taxID = Identifiers.maskTaxID(b.taxID.filter(\.isNumber), type: b.taxIDType)
        b.taxIDMasked = true
      }
      return b
    case var s as Practice_V1_Subscription:
      if case .paymentMethod(var p)? = s.paymentMethodPresence {
        p.processorToken = ""
        s.paymentMethod = p
      }
      return s
    case var p as Practice_V1_PaymentMethod:
      p.processorToken = ""
      return p
    default:
      return message
    }
  }
}
