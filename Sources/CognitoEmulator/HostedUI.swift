import CognitoAuthCore

/// The hosted UI's HTML: the sign-in form and the error page. Every interpolated value is escaped.
enum HostedUI {
    static func escape(_ s: String) -> String { HTMLEscaping.escape(s) }

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
        <label for="signInFormUsername">Email</label>
        <input id="signInFormUsername" name="username" type="text" autocomplete="username" autocapitalize="none" required>
        <label for="signInFormPassword">Password</label>
        <input id="signInFormPassword" name="password" type="password" autocomplete="current-password" required>
        <button name="signInSubmitButton" type="submit">Sign in</button>
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
}
