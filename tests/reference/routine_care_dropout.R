# Reference numbers for the routine-care methods on a data set of our own with selective
# dropout (the generator's dropout scenario; issue 15): random slopes (lme4), Cox / cox.zph
# / RMST (survival), AIPW by hand and cluster-robust SEs (sandwich), on the frames that
# routine_care_dropout_inputs.py writes beside this file. The same R calls as
# routine_care.R (clinic_a).
#
# Run from the repository root:
#   PYTHONPATH=src python tests/reference/routine_care_dropout_inputs.py
#   Rscript tests/reference/routine_care_dropout.R
# Writes tests/reference/routine_care_dropout.json.
suppressPackageStartupMessages({
  library(lme4); library(survival); library(sandwich); library(jsonlite)
})
here <- "tests/reference"
rd <- function(name) read.csv(file.path(here, name), stringsAsFactors = FALSE)
out <- list()

## Random slopes, linear time
tr <- rd("routine_care_dropout_trajectory.csv")
fit <- lmer(value ~ treated * weeks + (1 + weeks | episode_id), data = tr, REML = TRUE,
            control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))
weeks <- c(0, 2, 4)
x0 <- cbind(1, 0, weeks, 0); x1 <- cbind(1, 1, weeks, weeks)
L <- x1 - x0
vc <- as.data.frame(VarCorr(fit))
out$slopes <- list(
  fixef = unname(fixef(fit)), se = unname(sqrt(diag(as.matrix(vcov(fit))))),
  sd_residual = vc$sdcor[vc$grp == "Residual"],
  weeks = weeks,
  contrast_estimate = unname(drop(L %*% fixef(fit))),
  contrast_se = unname(sqrt(diag(L %*% as.matrix(vcov(fit)) %*% t(L))))
)

## Cox (Efron), cox.zph, RMST at 30 days
tm <- rd("routine_care_dropout_times.csv")
cx <- coxph(Surv(time, event) ~ treated, data = tm, ties = "efron")
zp <- cox.zph(cx)
rm30 <- summary(survfit(Surv(time, event) ~ treated, data = tm), rmean = 30)$table
out$cox <- list(
  n = nrow(tm), coef = unname(coef(cx)), se = unname(sqrt(diag(vcov(cx)))),
  zph_chisq = unname(zp$table["GLOBAL", "chisq"]), zph_p = unname(zp$table["GLOBAL", "p"]),
  rmean = unname(rm30[, "rmean"]), rmean_se = unname(rm30[, "se(rmean)"])
)

## AIPW by hand
an <- rd("routine_care_dropout_ancova.csv")
ps_set <- an[complete.cases(an[, c("nprs_baseline", "nprs_discharge", "odi_baseline", "age",
                                   "sex", "condition", "symptom_weeks", "site_id")]), ]
for (v in c("sex", "condition", "site_id")) ps_set[[v]] <- factor(ps_set[[v]])
e <- fitted(glm(treated ~ age + symptom_weeks + nprs_baseline + odi_baseline + sex +
                  condition + site_id, family = binomial, data = ps_set))
X <- model.matrix(nprs_discharge ~ age + symptom_weeks + nprs_baseline + odi_baseline + sex +
                    condition + site_id, ps_set)
t <- ps_set$treated; y <- ps_set$nprs_discharge
pred <- function(rows) {
  b <- coef(lm(y[rows] ~ 0 + X[rows, , drop = FALSE])); b[is.na(b)] <- 0
  drop(X %*% b)
}
m1 <- pred(t == 1); m0 <- pred(t == 0)
phi <- m1 + t * (y - m1) / e - (m0 + (1 - t) * (y - m0) / (1 - e))
out$aipw <- list(n = nrow(ps_set), estimate = mean(phi), se = sqrt(var(phi) / nrow(ps_set)))

## Cluster-robust SEs (CR1) of the ANCOVA and the IPTW-weighted fit, by therapist
cc <- an[complete.cases(an[, c("nprs_baseline", "nprs_discharge")]), ]
fit <- lm(nprs_discharge ~ treated + nprs_baseline, data = cc)
share <- mean(t)
w <- ifelse(t == 1, share / e, (1 - share) / (1 - e))
wfit <- lm(nprs_discharge ~ treated + nprs_baseline, data = ps_set, weights = w)
out$cluster <- list(
  ancova_n = nrow(cc), ancova_coef = unname(coef(fit)),
  therapist = unname(as.vector(vcovCL(fit, cluster = ~ therapist_id, type = "HC1"))),
  iptw_n = nrow(ps_set), iptw_coef = unname(coef(wfit)),
  iptw_therapist = unname(as.vector(vcovCL(wfit, cluster = ~ therapist_id, type = "HC1")))
)
out$r_version <- R.version.string
out$packages <- sapply(c("lme4", "survival", "sandwich"),
                       function(p) as.character(packageVersion(p)))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "routine_care_dropout.json"))
