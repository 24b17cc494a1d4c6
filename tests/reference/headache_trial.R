# Reference numbers for tests/test_headache_trial.py: the headache trial's ANCOVA at 12 months
# (Vickers et al., BMJ 2004;328:744), fitted with R's lm on the published per-patient file.
# Run from the repository root:  Rscript tests/reference/headache_trial.R
library(jsonlite)

src <- "../shared/reference/external/acupuncture_headache_vickers2004.csv"
d <- read.csv(src)
# sex 1 = female, 0 = male (the conversion script's reading); the package enters sex as a
# category whose first level (female) is the reference: factor(sex) with levels female, male.
d$sex <- factor(ifelse(d$sex == 1, "female", "male"), levels = c("female", "male"))
cc <- d[complete.cases(d[, c("pk5", "pk1", "group", "age", "sex", "migraine", "chronicity")]), ]

fit <- lm(pk5 ~ group + pk1 + age + sex + migraine + chronicity, data = cc)
co <- summary(fit)$coefficients["group", ]
ci <- confint(fit)["group", ]

# Adjusted means as the package defines them: every non-arm model column at its mean over
# the analysed rows (the factor as its 0/1 indicator mean), the arm at 0 and at 1.
X <- model.matrix(fit)
at <- colMeans(X)
at0 <- at; at0["group"] <- 0
at1 <- at; at1["group"] <- 1

out <- list(
  source = src,
  model = "lm(pk5 ~ group + pk1 + age + sex + migraine + chronicity), complete cases",
  n = nrow(cc),
  n_reference = sum(cc$group == 0),
  n_comparator = sum(cc$group == 1),
  estimate = unname(co["Estimate"]),
  se = unname(co["Std. Error"]),
  t = unname(co["t value"]),
  df = fit$df.residual,
  p = unname(co["Pr(>|t|)"]),
  ci_low = unname(ci[1]),
  ci_high = unname(ci[2]),
  adjusted_mean_reference = sum(coef(fit) * at0),
  adjusted_mean_comparator = sum(coef(fit) * at1),
  published = list(
    estimate = -4.6, ci_low = -7.0, ci_high = -2.2, p = 0.0002,
    note = paste(
      "BMJ 2004;328:744 abstract: 'adjusted difference between means 4.6 (2.2 to 7.0;",
      "P = 0.0002)' (usual care minus acupuncture), n = 161 + 140, ANCOVA on baseline,",
      "age, sex, diagnosis (migraine) and number of years of headache"
    )
  ),
  R_version = R.version.string
)
write_json(out, "tests/reference/headache_trial.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
print(summary(fit))
print(out[c("estimate", "se", "ci_low", "ci_high", "p", "adjusted_mean_reference", "adjusted_mean_comparator")])
