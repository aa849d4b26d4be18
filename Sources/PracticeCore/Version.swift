/// practiced's version: `practiced --version`, `practicectl --version`, `Reflection/Describe`'s
/// `server_version`, and the C client library's version, soname and `.pc` file (its Makefile reads
/// the string from this line) all come from here.
public enum PracticeVersion {
  public static let string = "1.1.0"
}
