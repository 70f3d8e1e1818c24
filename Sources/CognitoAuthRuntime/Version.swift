/// The release, as `cognito-auth --version` and `cognito-auth-helper --version` print it.
public enum Version {
    public static let string = "0.2.0"
}
