// A headless Chromium driven over the Chrome DevTools Protocol (CDP), for integration tests that load a page
// served by ywmsgd and assert what it renders once its scripts ran. Blocking: every call waits for its reply
// under a deadline, so a hung or dead browser fails the test instead of hanging it.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace yw::test {

class Browser {
  public:
    // Starts `chromium` from PATH (YW_CHROMIUM overrides the path) headless, in its own process group, with a
    // fresh profile in a temp dir, and attaches to its page (Page, Runtime and Network enabled). kUnavailable
    // when chromium is missing or its DevTools endpoint does not come up within 20 s (with its log's tail).
    static Result<std::unique_ptr<Browser>> launch();
    // Closes the connection, stops chromium (SIGTERM, then SIGKILL to its whole process group) and removes
    // the profile.
    ~Browser();
    Browser(const Browser&) = delete;
    Browser& operator=(const Browser&) = delete;

    // Loads `url` and waits for its load event. A network failure (net::ERR_…) is an error; an HTTP error
    // status is not (the page loaded). A same-document navigation (#fragment) returns once committed.
    Status navigate(const std::string& url, std::chrono::milliseconds timeout = std::chrono::seconds(15));
    // Runtime.evaluate in the page (returnByValue, awaitPromise): the expression's value as JSON (null for
    // undefined; "NaN", "Infinity", "-0" or "123n" as strings). An exception in the page is an error with its
    // text.
    Result<boost::json::value> evaluate(const std::string& expression,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Evaluates the JS expression `predicate` (a promise is awaited) every 100 ms until it is truthy; false
    // when the timeout passes first. A predicate that throws counts as false.
    bool wait_until(const std::string& predicate, std::chrono::milliseconds timeout);
    // The whole page (not only the viewport) as a PNG file.
    Status screenshot(const std::filesystem::path& png);
    // Any other CDP command on the page, e.g. call("Emulation.setTimezoneOverride", {{"timezoneId", "UTC"}}):
    // its "result" object.
    Result<boost::json::object> call(const std::string& method, boost::json::object params = {},
                                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

    // Since launch: console.error/console.assert messages (their arguments joined by spaces) and uncaught
    // exceptions and unhandled rejections ("Uncaught Error: …" with the stack), for tests to assert a page
    // ran cleanly.
    std::vector<std::string> errors() const;
    // Since launch: the URL of every request the page made (Network.requestWillBeSent), e.g. to assert that a
    // secret never appears in one.
    std::vector<std::string> requested_urls() const;
    // What chromium printed so far (mostly harmless D-Bus noise), for failure messages.
    std::string log() const;

  private:
    struct Impl;
    explicit Browser(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace yw::test
