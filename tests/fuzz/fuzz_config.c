/* fuzz_config.c: the INI loader on arbitrary text. */
#include "fuzz.h"
#include "leadd/config.h"

FUZZ_TARGET(config)
{
    struct config cfg;
    struct config_diag d;
    if (config_load_text(&cfg, "fuzz.ini", (const char *)data, size, &d) == 0)
        config_release(&cfg);
    config_diag_release(&d);
    return 0;
}
