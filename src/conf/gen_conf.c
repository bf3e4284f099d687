/*
 * gen_conf.c - print conf/edad.conf from the option table (options.def).
 * Used only by `make regen-conf`; not installed.
 */
#include "edad/conf.h"

int main(void)
{
    conf_print_conf(stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}
