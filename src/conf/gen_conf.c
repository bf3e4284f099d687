/*
 * gen_conf.c - print conf/edad.conf, or with --man the man page
 * edad.conf(5), from the option table (options.def).  Used only by `make
 * regen-conf`, `make regen-man` and the drift test; not installed.
 */
#include <string.h>

#include "edad/conf.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--man") == 0)
        conf_print_man(stdout);
    else
        conf_print_conf(stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}
