import CognitoAuthCore

/// The person's pages: plain HTML forms, no script, no external resources, no styles beyond the
/// browser's own, so the Content-Security-Policy can forbid everything but posting forms.
enum Pages {
    static func escape(_ s: String) -> String { HTMLEscaping.escape(s) }

    static func page(_ title: String, _ body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>\(escape(title))</title></head>
        <body><main>
        <h1>\(escape(title))</h1>
        \(body)
        </main></body></html>

        """
    }

    static func codeForm(csrf: String, prefill: String, message: String?) -> String {
        let note = message.map { "<p role=\"alert\"><strong>\(escape($0))</strong></p>\n" } ?? ""
        return page("Sign in to a Linux host", """
            \(note)<p>Enter the code shown in your terminal.</p>
            <form method="post" action="/d">
            <input type="hidden" name="csrf" value="\(escape(csrf))">
            <label for="code">Code</label>
            <input id="code" name="code" value="\(escape(prefill))" autocomplete="off" autocapitalize="characters"
                   spellcheck="false" maxlength="9" size="10" required autofocus>
            <button type="submit">Next</button>
            </form>
            """)
    }

    static func confirm(csrf: String, record: SignInRecord) -> String {
        let from = record.rhost.isEmpty ? "the host's own console" : record.rhost
        return page("Is this your sign-in?", """
            <p>You are about to sign in</p>
            <dl>
            <dt>to host</dt><dd id="host"><strong>\(escape(record.host))</strong></dd>
            <dt>as user</dt><dd id="user"><strong>\(escape(record.user))</strong></dd>
            <dt>for a request from</dt><dd id="rhost"><strong>\(escape(from))</strong></dd>
            </dl>
            <p>Continue only if you started this sign-in yourself, just now. If someone sent you this
            code or link, do not continue: they would be signed in as you.</p>
            <form method="post" action="/d/confirm">
            <input type="hidden" name="csrf" value="\(escape(csrf))">
            <input type="hidden" name="code" value="\(escape(UserCode.display(record.userCode)))">
            <button type="submit" name="action" value="continue" id="continue">Continue</button>
            <button type="submit" name="action" value="deny" id="deny">This is not me</button>
            </form>
            """)
    }

    static func message(_ title: String, _ text: String) -> String {
        page(title, "<p>\(escape(text))</p>")
    }

    static let signedIn = message("Signed in — return to your terminal",
                                  "You can close this page and press Enter in your terminal.")
}
