# Reference numbers for tests/test_iptw_estimands.py: propensity-score weighting of
# clinic_a's NPRS-at-discharge comparison (dn_manual_exercise vs dn_only) for three
# estimands (analysis plan, sections 6 and 10), by hand formulas on R's glm, lm, sandwich.
# The frame is written by tests/reference/iptw_frame.py (pandas from the raw CSVs).
# Run from the repository root:  Rscript tests/reference/iptw_estimands.R
library(jsonlite)
library(sandwich)

d <- read.csv("tests/reference/clinic_a_iptw_frame.csv", stringsAsFactors = FALSE)
for (v in c("sex", "condition", "site_id")) d[[v]] <- factor(d[[v]])  # sorted levels
ps_fit <- glm(treated ~ age + sex + condition + symptom_weeks + nprs_baseline +
                odi_baseline + site_id, family = binomial, data = d)
stopifnot(ps_fit$converged)
e <- fitted(ps_fit)
t <- d$treated
p <- mean(t)

weights <- list(
  ate = ifelse(t == 1, p / e, (1 - p) / (1 - e)),   # stabilised ATE
  att = ifelse(t == 1, 1, e / (1 - e)),             # ATT
  ato = ifelse(t == 1, 1 - e, e)                    # ATO (overlap weights)
)

# Balance columns: continuous covariates, and one 0/1 column per level of each categorical.
cols <- list(age = d$age, symptom_weeks = d$symptom_weeks,
             nprs_baseline = d$nprs_baseline, odi_baseline = d$odi_baseline)
for (v in c("sex", "condition", "site_id")) {
  for (lv in levels(d[[v]])) cols[[paste0(v, "=", lv)]] <- as.numeric(d[[v]] == lv)
}
smd <- function(x, w) {
  c1 <- t == 1; c0 <- t == 0
  (weighted.mean(x[c1], w[c1]) - weighted.mean(x[c0], w[c0])) /
    sqrt((var(x[c1]) + var(x[c0])) / 2)
}
ess <- function(w) sum(w)^2 / sum(w^2)

z <- qnorm(0.975)
out <- list(n = nrow(d), n_reference = sum(t == 0), n_comparator = sum(t == 1))
for (est in names(weights)) {
  w <- weights[[est]]
  fit <- lm(nprs_discharge ~ treated + nprs_baseline, data = d, weights = w)
  b <- unname(coef(fit)["treated"])
  se <- sqrt(vcovHC(fit, type = "HC0")["treated", "treated"])
  out[[est]] <- list(
    estimate = b, se = se, ci_low = b - z * se, ci_high = b + z * se,
    ess_reference = ess(w[t == 0]), ess_comparator = ess(w[t == 1]),
    smd_after = lapply(cols, smd, w = w)
  )
}
out$smd_before <- lapply(cols, smd, w = rep(1, nrow(d)))

# The frame is right if the stabilised ATE reproduces clinic_a's expected.json.
expected <- fromJSON("../shared/reference/clinic_a/expected.json")$iptw
stopifnot(expected$n == nrow(d))
stopifnot(abs(out$ate$estimate / expected$estimate - 1) < 1e-6)
stopifnot(abs(out$ate$se / expected$se - 1) < 1e-6)
stopifnot(abs(out$ate$ess_reference / expected$ess_reference - 1) < 1e-6)
out$R_version <- R.version.string
write_json(out, "tests/reference/iptw_estimands.json", digits = NA, auto_unbox = TRUE,
           pretty = TRUE)
for (est in names(weights)) {
  cat(est, ":", unlist(out[[est]][c("estimate", "se", "ci_low", "ci_high",
                                    "ess_reference", "ess_comparator")]), "\n")
}
