import CognitoAuthCore

/// The hosted UI's HTML: the sign-in form and the error page. Every interpolated value is escaped.
enum HostedUI {
    static func escape(_ s: String) -> String { HTMLEscaping.escape(s) }

    /// The email and password fields and the submit button of both sign-in forms.
    static let credentialFields = """
        <label for="signInFormUsername">Email</label>
        <input id="signInFormUsername" name="username" type="text" autocomplete="username" autocapitalize="none" required>
        <label for="signInFormPassword">Password</label>
        <input id="signInFormPassword" name="password" type="password" autocomplete="current-password" required>
        <button name="signInSubmitButton" type="submit">Sign in</button>
        """

    /// The sign-in form; it posts `username` and `password` to `/login?<query>`.
    static func signInPage(query: String, poolId: String, error: String?) -> String {
        let errorBlock = error.map { "<p class=\"error\" id=\"loginErrorMessage\" role=\"alert\">\(escape($0))</p>\n" } ?? ""
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head><meta charset="utf-8"><title>Signin</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>body{font-family:sans-serif;max-width:22em;margin:3em auto}label,input,button{display:block;width:100%;margin:.4em 0}.error{color:#b00}</style>
        </head>
        <body>
        <h1>Sign in</h1>
        <p>Cognito user pool emulator &middot; \(escape(poolId))</p>
        \(errorBlock)<form name="cognitoSignInForm" method="post" action="/login?\(escape(query))">
        \(credentialFields)
        </form>
        </body>
        </html>

        """
    }

    /// Cognito's `/error` page: "An error was encountered with the requested page."
    static func errorPage(error: String, description: String?) -> String {
        let detail = description.map { "<p id=\"errorDescription\">\(escape($0))</p>\n" } ?? ""
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head><meta charset="utf-8"><title>Error</title></head>
        <body>
        <h1>An error was encountered with the requested page.</h1>
        <p id="errorCode">\(escape(error))</p>
        \(detail)</body>
        </html>

        """
    }

    private static func page(_ title: String, _ body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head><meta charset="utf-8"><title>\(escape(title))</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>body{font-family:sans-serif;max-width:22em;margin:3em auto}label,input,button{display:block;width:100%;margin:.4em 0}.error{color:#b00}</style>
        </head>
        <body>
        \(body)</body>
        </html>

        """
    }

    private static func errorBlock(_ error: String?) -> String {
        error.map { "<p class=\"error\" role=\"alert\">\(escape($0))</p>\n" } ?? ""
    }

    /// Device mode's `/device`: the user-code form (prefilled from `verification_uri_complete`).
    static func deviceCodePage(prefill: String, error: String?) -> String {
        page("Device sign-in", """
        <h1>Connect a device</h1>
        \(errorBlock(error))<form name="deviceCodeForm" method="post" action="/device">
        <label for="userCode">Code shown on your device</label>
        <input id="userCode" name="user_code" type="text" value="\(escape(prefill))" autocapitalize="characters" required>
        <button type="submit">Next</button>
        </form>

        """)
    }

    /// The sign-in form for one user code; it posts back to `/device` with the code.
    static func deviceSignInPage(userCode: String, poolId: String, error: String?) -> String {
        page("Signin", """
        <h1>Sign in</h1>
        <p>Cognito user pool emulator &middot; \(escape(poolId)) &middot; code \(escape(userCode))</p>
        \(errorBlock(error))<form name="cognitoSignInForm" method="post" action="/device">
        <input type="hidden" name="user_code" value="\(escape(userCode))">
        \(credentialFields)
        </form>
        <form name="denyForm" method="post" action="/device">
        <input type="hidden" name="user_code" value="\(escape(userCode))">
        <button name="action" value="deny" type="submit">Deny</button>
        </form>

        """)
    }

    static func deviceDonePage(_ message: String) -> String {
        page("Device sign-in", "<p id=\"deviceDone\">\(escape(message))</p>\n")
    }
}
