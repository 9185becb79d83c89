// The merchant key in a SoftHSM2 token, from C++ through the configuration alone
// (`"signer":{"pkcs11":{...}}`, a library built with the cargo feature `pkcs11`): a refund
// signed by the token settles against wxrefund-sim; a wrong PIN and a missing key label are
// INVALID_CONFIG naming their field, never echoing a PIN. Built with -Wall -Wextra -Werror
// and run by scripts/test-cpp.sh (SOFTHSM2_CONF and the PIN variables in the environment):
//   pkcs11_test TOKEN_CONFIG WRONG_PIN_CONFIG NO_KEY_CONFIG PIN_VARIABLE WRONG_PIN_VARIABLE
// Prints "N passed, N failed" last; exits non-zero on any failure.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "wxrefund.hpp"
#include "test_util.hpp"

using wxrefund::Client;
using wxrefund::Error;
using wxrefund::Refund;

namespace {

using test_util::read_file;

/// `config` is refused with INVALID_CONFIG naming `field`, and no PIN in `pins` shows.
void expect_config_error(const std::string& config, const std::string& field, const std::string (&pins)[2]) {
    try {
        Client client = Client::from_config(config);
        CHECK(false);
    } catch (const Error& e) {
        CHECK(e.status() == WXREFUND_STATUS_INVALID_CONFIG);
        CHECK(e.field() == field);
        if (e.field() != field) std::cerr << "want " << field << ": " << e.json() << "\n";
        for (const std::string& pin : pins) {
            CHECK(std::string(e.what()).find(pin) == std::string::npos);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6) {
        std::cerr << "usage: " << argv[0]
                  << " TOKEN_CONFIG WRONG_PIN_CONFIG NO_KEY_CONFIG PIN_VARIABLE WRONG_PIN_VARIABLE\n";
        return 2;
    }
    try {
        const char* pin = std::getenv(argv[4]);
        const char* wrong_pin = std::getenv(argv[5]);
        if (!pin || !wrong_pin || !*pin || !*wrong_pin) throw std::runtime_error("the PIN variables are not set");
        const std::string pins[2] = {pin, wrong_pin};
        std::string config = read_file(argv[1]);
        CHECK(config.find("PRIVATE KEY") == std::string::npos);

        Client client = Client::from_config(config);
        std::string no = "PK" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                   std::chrono::system_clock::now().time_since_epoch())
                                                   .count() %
                                               100000);
        Refund created(client.create_refund(R"({"out_trade_no":"T20261122000001","out_refund_no":")" + no +
                                            R"(","amount":{"refund":1,"total":10000,"currency":"CNY"}})"));
        CHECK(created.status() == "PROCESSING");
        Refund done(client.wait_for_final(R"({"out_refund_no":")" + no + R"("})", std::chrono::seconds(20)));
        CHECK(done.status() == "SUCCESS" && done.is_final());

        expect_config_error(read_file(argv[2]), "signer.pkcs11.pin_env", pins);
        expect_config_error(read_file(argv[3]), "signer.pkcs11.key_label", pins);
    } catch (const std::exception& e) {
        test_util::failures++;
        std::cerr << "unexpected exception: " << e.what() << "\n";
    }
    return test_util::finish();
}
