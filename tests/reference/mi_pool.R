# Rubin's rules by mice 3.15 on the imputed data sets of mi_imputed.csv (written once by
# dnoutcomes' own imputer, mi_make_imputed.py); tests/test_mi.py re-pools the same sets
# with dnoutcomes.stats.mi.pool_rubin and compares at 1e-6.
#   Rscript tests/reference/mi_pool.R   (from the repository root)
suppressPackageStartupMessages({library(mice); library(jsonlite)})
here <- "tests/reference"
long <- read.csv(file.path(here, "mi_imputed.csv"))
sets <- split(long, long$imputation)

# 1. ANCOVA with an auxiliary covariate: lm per set, pooled (dfcom = n - p from lm)
fits <- lapply(sets, function(d) lm(value ~ treated + baseline + age + odi_baseline, data = d))
pooled <- pool(as.mira(fits))
s <- summary(pooled, conf.int = TRUE, conf.level = 0.95)
p <- pooled$pooled
ancova <- list(
  term = as.character(s$term), estimate = s$estimate, std_error = s$std.error,
  statistic = s$statistic, df = s$df, p_value = s$p.value,
  conf_low = s[["2.5 %"]], conf_high = s[["97.5 %"]],
  ubar = p$ubar, b = p$b, t = p$t, dfcom = p$dfcom, riv = p$riv, lambda = p$lambda,
  fmi = p$fmi, m = p$m
)
# per-set inputs, so the test can also check its own lm against R's
ancova$per_set_estimate <- lapply(fits, function(f) unname(coef(f)))
ancova$per_set_variance <- lapply(fits, function(f) unname(diag(vcov(f))))

# 2. Risk difference of responding (improvement >= 2 points), Wald variance, pooled by
#    pool.scalar with n = Inf (dfcom = Inf: df = (m - 1) / lambda^2)
rd <- t(sapply(sets, function(d) {
  r <- (d$baseline - d$value) >= 2
  p1 <- mean(r[d$treated == 1]); p0 <- mean(r[d$treated == 0])
  n1 <- sum(d$treated == 1); n0 <- sum(d$treated == 0)
  c(p1 - p0, p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
}))
ps <- pool.scalar(rd[, 1], rd[, 2], n = Inf)
tval <- ps$qbar / sqrt(ps$t)
responders <- list(
  per_set_estimate = unname(rd[, 1]), per_set_variance = unname(rd[, 2]),
  estimate = ps$qbar, std_error = sqrt(ps$t), ubar = ps$ubar, b = ps$b, t = ps$t,
  df = ps$df, riv = ps$r, fmi = ps$fmi,
  p_value = 2 * pt(abs(tval), ps$df, lower.tail = FALSE),
  conf_low = ps$qbar - qt(0.975, ps$df) * sqrt(ps$t),
  conf_high = ps$qbar + qt(0.975, ps$df) * sqrt(ps$t)
)
out <- list(
  source = "mice 3.15: pool(as.mira(lm fits)) and pool.scalar(n = Inf) on mi_imputed.csv",
  mice_version = as.character(packageVersion("mice")),
  ancova = ancova, responders = responders
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "mi_pool.json"))
