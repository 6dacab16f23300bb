/*
 * bounce-rules.c - the rules engine (placeholder: classifies nothing).
 */
#include "bounce-private.h"

struct _BounceRules {
    int unused;
};

BounceRules *
bounce_rules_load (const char *const *dirs, GError **error)
{
    return g_new0 (BounceRules, 1);
}

void
bounce_rules_free (BounceRules *rules)
{
    g_free (rules);
}

void
bounce_rules_classify (const BounceRules *rules, BounceReport *report)
{
}

const BounceReason *
bounce_rules_get_reason (const BounceRules *rules, const char *name)
{
    return NULL;
}

gboolean
bounce_rules_check (const char *const *dirs, GPtrArray *problems)
{
    return TRUE;
}
