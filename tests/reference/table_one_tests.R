# Reference p-values for Table 1's tests (dnoutcomes.present.table_one), computed once:
#   Rscript tests/reference/table_one_tests.R
# Input: the episodes of generate(episodes=300, seed=1) in the three standard arms
# (tests/reference/table_one_tests.csv, written from the sample by the test's docstring code).
library(jsonlite)
d <- read.csv("tests/reference/table_one_tests.csv", stringsAsFactors = FALSE)
two <- d[d$arm %in% c("dn_only", "dn_manual_exercise"), ]
pair <- d[d$arm %in% c("dn_only", "manual_exercise"), ]
out <- list(
  age_welch_two = t.test(age ~ arm, data = two, var.equal = FALSE)$p.value,
  age_anova_three = oneway.test(age ~ arm, data = d, var.equal = TRUE)$p.value,
  odi_anova_three = oneway.test(odi ~ arm, data = d, var.equal = TRUE)$p.value,
  symptom_kruskal_three = kruskal.test(symptom_weeks ~ factor(arm), data = d)$p.value,
  symptom_kruskal_two = kruskal.test(symptom_weeks ~ factor(arm), data = two)$p.value,
  sex_chisq_three = suppressWarnings(chisq.test(table(d$arm, d$sex), correct = FALSE))$p.value,
  site_chisq_two = chisq.test(table(two$arm, two$site_id), correct = FALSE)$p.value,
  opioid_chisq_three = chisq.test(table(d$arm, d$opioid_use), correct = FALSE)$p.value,
  # 2x2 with an expected count below 5 (metal allergy, dn_only 0/77 vs manual_exercise 1/76)
  metal_allergy_fisher_pair = fisher.test(matrix(c(0, 1, 77, 75), 2))$p.value
)
write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/table_one_tests.json")
